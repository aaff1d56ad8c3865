/*
 * ARM CMSDK APB timer: a 32-bit down-counter clocked by PCLK. When VALUE
 * reaches zero it raises INTSTATUS (and the IRQ, if enabled) and reloads
 * from RELOAD on the next tick, so the period is RELOAD + 1 clocks.
 */
#ifndef ENSEMBLE_CMSDK_TIMER_H
#define ENSEMBLE_CMSDK_TIMER_H

#include <stdint.h>

struct cmsdk_timer {
    volatile uint32_t ctrl;       /* 0x00 */
    volatile uint32_t value;      /* 0x04 current count */
    volatile uint32_t reload;     /* 0x08 */
    volatile uint32_t intstatus;  /* 0x0C read: pending, write 1: clear (INTCLEAR) */
};

#define TIMER_CTRL_ENABLE     (1u << 0)
#define TIMER_CTRL_EXTIN_EN   (1u << 1)   /* count only while EXTIN is high */
#define TIMER_CTRL_EXTIN_CLK  (1u << 2)   /* EXTIN is the clock             */
#define TIMER_CTRL_IRQ_EN     (1u << 3)

#define TIMER_INT             (1u << 0)

#endif
