/*
 * ARM CMSDK APB dual timer (an SP804-style block): two independent
 * down-counters sharing one interrupt line. Each can be 16 or 32 bits wide,
 * free-running, periodic or one-shot, with a /1, /16 or /256 prescaler.
 */
#ifndef ENSEMBLE_CMSDK_DUALTIMER_H
#define ENSEMBLE_CMSDK_DUALTIMER_H

#include <stdint.h>

struct cmsdk_dualtimer_channel {
    volatile uint32_t load;     /* 0x00 writing also restarts the count      */
    volatile uint32_t value;    /* 0x04 current count (RO)                   */
    volatile uint32_t control;  /* 0x08                                      */
    volatile uint32_t intclr;   /* 0x0C any write clears the interrupt       */
    volatile uint32_t ris;      /* 0x10 raw interrupt status                 */
    volatile uint32_t mis;      /* 0x14 masked interrupt status              */
    volatile uint32_t bgload;   /* 0x18 reload for the next period only      */
    uint32_t reserved;
};

struct cmsdk_dualtimer {
    struct cmsdk_dualtimer_channel ch[2];  /* timer 1 at 0x00, timer 2 at 0x20 */
};

#define DUALTIMER_CTRL_ONESHOT    (1u << 0)
#define DUALTIMER_CTRL_SIZE32     (1u << 1)
#define DUALTIMER_CTRL_PRESCALE1  (0u << 2)
#define DUALTIMER_CTRL_PRESCALE16 (1u << 2)
#define DUALTIMER_CTRL_PRESCALE256 (2u << 2)
#define DUALTIMER_CTRL_INTEN      (1u << 5)
#define DUALTIMER_CTRL_PERIODIC   (1u << 6)
#define DUALTIMER_CTRL_ENABLE     (1u << 7)

#endif
