/*
 * Board description, selected at build time by one of BOARD_AN385,
 * BOARD_AN386 or BOARD_SENSOR_NODE (scripts/build-images.sh passes it).
 *
 * MPS2 AN385 (Cortex-M3) and AN386 (Cortex-M4F) share one memory map; the
 * Ensemble sensor-node is a smaller Cortex-M3 board that reuses the MPS2
 * UART0 and timer0 at the same addresses and IRQ numbers, so every driver
 * in images/lib works unchanged on all three.
 */
#ifndef ENSEMBLE_BOARD_H
#define ENSEMBLE_BOARD_H

#include "cmsdk_uart.h"
#include "cmsdk_timer.h"
#include "cmsdk_dualtimer.h"

/* All three boards clock the core, SysTick (CLKSOURCE=1), timers and UARTs
 * from one 25 MHz clock. */
#define SYSCLK_HZ 25000000u

/* Peripherals common to all boards. */
#define UART0      ((struct cmsdk_uart *)0x40004000u)
#define TIMER0     ((struct cmsdk_timer *)0x40000000u)
#define IRQ_UART0_RX   0
#define IRQ_UART0_TX   1
#define IRQ_TIMER0     8

#if defined(BOARD_AN385) || defined(BOARD_AN386)

#if defined(BOARD_AN385)
#define BOARD_NAME "mps2-an385"
#else
#define BOARD_NAME "mps2-an386"
#endif
#define BOARD_HAS_SCC 1

#define TIMER1     ((struct cmsdk_timer *)0x40001000u)
#define DUALTIMER  ((struct cmsdk_dualtimer *)0x40002000u)
#define UART1      ((struct cmsdk_uart *)0x40005000u)
#define UART2      ((struct cmsdk_uart *)0x40006000u)

#define IRQ_UART1_RX   2
#define IRQ_UART1_TX   3
#define IRQ_UART2_RX   4
#define IRQ_UART2_TX   5
#define IRQ_TIMER1     9
#define IRQ_DUALTIMER  10
#define IRQ_UART_OVF   12   /* overrun of UART0-2, ORed */

#elif defined(BOARD_SENSOR_NODE)

#define BOARD_NAME "sensor-node"
#define BOARD_HAS_SCC 0

#else
#error "define BOARD_AN385, BOARD_AN386 or BOARD_SENSOR_NODE"
#endif

/* Number of external interrupts wired to the NVIC (exceptions 16..47). */
#define BOARD_NUM_IRQS 32

/*
 * NVIC priorities: the MPS2 FPGA images implement only the top 3 priority
 * bits (0x00, 0x20, ... 0xE0) while QEMU implements all 8. The images use
 * multiples of 0x20 only, so both behave identically.
 */
#define PRIO(level) ((uint8_t)((level) << 5))   /* level 0 (highest) .. 7 */

#endif
