/*
 * ARM CMSDK APB UART (as found on MPS2 boards and on the Ensemble
 * sensor-node). A simple byte-at-a-time UART with a one-byte buffer in each
 * direction and no FIFO; the baud rate is PCLK / BAUDDIV.
 */
#ifndef ENSEMBLE_CMSDK_UART_H
#define ENSEMBLE_CMSDK_UART_H

#include <stdint.h>

struct cmsdk_uart {
    volatile uint32_t data;       /* 0x00 RX byte on read, TX byte on write    */
    volatile uint32_t state;      /* 0x04 buffer full flags, overrun W1C       */
    volatile uint32_t ctrl;       /* 0x08 enables                              */
    volatile uint32_t intstatus;  /* 0x0C read: status, write 1s: clear        */
    volatile uint32_t bauddiv;    /* 0x10 >= 16                                */
};

#define UART_STATE_TXFULL     (1u << 0)
#define UART_STATE_RXFULL     (1u << 1)
#define UART_STATE_TXOVERRUN  (1u << 2)
#define UART_STATE_RXOVERRUN  (1u << 3)

#define UART_CTRL_TX_EN       (1u << 0)
#define UART_CTRL_RX_EN       (1u << 1)
#define UART_CTRL_TX_INTEN    (1u << 2)   /* IRQ when the transmitter becomes free */
#define UART_CTRL_RX_INTEN    (1u << 3)   /* IRQ when a byte arrives               */
#define UART_CTRL_TXOV_INTEN  (1u << 4)
#define UART_CTRL_RXOV_INTEN  (1u << 5)
#define UART_CTRL_HS_TEST     (1u << 6)   /* high-speed test mode                  */

#define UART_INT_TX           (1u << 0)
#define UART_INT_RX           (1u << 1)
#define UART_INT_TXOVERRUN    (1u << 2)
#define UART_INT_RXOVERRUN    (1u << 3)

#endif
