/*
 * Board description, selected at build time by one of BOARD_AN385,
 * BOARD_AN386, BOARD_SENSOR_NODE, BOARD_WATCH, BOARD_SPEAKER or BOARD_PHONE
 * (scripts/build-images.sh passes it).
 *
 * MPS2 AN385 (Cortex-M3) and AN386 (Cortex-M4F) share one memory map; the
 * watch and speaker (Cortex-M4F) and the phone (Cortex-M7) use the same
 * map. The Ensemble sensor-node is a smaller Cortex-M3 board that reuses
 * the MPS2 UART0 and timer0 at the same addresses and IRQ numbers, so
 * every driver in images/lib works unchanged on all of them.
 *
 * The second half says which of Ensemble's own devices (display.h,
 * touch.h, gpio.h, audio.h, sensors.h) a board has, how big they are and,
 * for the sensor hub, which channel index holds which sensor, so that
 * images can be written once: `#if BOARD_HAS_DISPLAY`, `SENSOR_CH_ACCEL`.
 */
#ifndef ENSEMBLE_BOARD_H
#define ENSEMBLE_BOARD_H

#include "cmsdk_uart.h"
#include "cmsdk_timer.h"
#include "cmsdk_dualtimer.h"

/* All boards clock the core, SysTick (CLKSOURCE=1), timers and UARTs
 * from one 25 MHz clock. */
#define SYSCLK_HZ 25000000u

/* Peripherals common to all boards. */
#define UART0      ((struct cmsdk_uart *)0x40004000u)
#define TIMER0     ((struct cmsdk_timer *)0x40000000u)
#define IRQ_UART0_RX   0
#define IRQ_UART0_TX   1
#define IRQ_TIMER0     8

#if defined(BOARD_AN385) || defined(BOARD_AN386) || defined(BOARD_WATCH) || \
    defined(BOARD_SPEAKER) || defined(BOARD_PHONE)

#if defined(BOARD_AN385)
#define BOARD_NAME "mps2-an385"
#define BOARD_HAS_SCC 1
#elif defined(BOARD_AN386)
#define BOARD_NAME "mps2-an386"
#define BOARD_HAS_SCC 1
#elif defined(BOARD_WATCH)
#define BOARD_NAME "watch"
#elif defined(BOARD_SPEAKER)
#define BOARD_NAME "speaker"
#else
#define BOARD_NAME "phone"
#endif
/* The new boards have no SCC of their own identity: images treat it as absent. */
#ifndef BOARD_HAS_SCC
#define BOARD_HAS_SCC 0
#endif

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
#error "define BOARD_AN385, BOARD_AN386, BOARD_SENSOR_NODE, BOARD_WATCH, BOARD_SPEAKER or BOARD_PHONE"
#endif

/*
 * ---- Display, touch, GPIO, audio, sensor hub --------------------------------
 *
 * BOARD_HAS_DISPLAY            DSP1 (display.h); BOARD_DISPLAY_WIDTH/HEIGHT in pixels
 * BOARD_HAS_TOUCH              TCH1 (touch.h), same size as the display
 * BOARD_HAS_GPIO               GPI1 (gpio.h); BOARD_NUM_BUTTONS inputs, BOARD_NUM_LEDS outputs
 * BOARD_HAS_AUDIO_OUT/_IN      AUO1/AUI1 (audio.h); BOARD_AUDIO_OUT/IN_CHANNELS (1 or 2)
 * BOARD_HAS_SENSORS            SNS1 (sensors.h); BOARD_NUM_SENSOR_CHANNELS, and
 *                              SENSOR_CH_<TYPE> = channel index, defined only for
 *                              the sensors the board has (test with #ifdef)
 * BOARD_HAS_RADIO              RAD1 packet radio (radio.h: RADIO_BASE, IRQ_RADIO)
 *
 * Everything not defined for a board below is 0 (absent).
 */
#if defined(BOARD_AN385) || defined(BOARD_AN386)
#define BOARD_HAS_DISPLAY           1
#define BOARD_DISPLAY_WIDTH         320
#define BOARD_DISPLAY_HEIGHT        240
#define BOARD_HAS_TOUCH             1
#define BOARD_HAS_GPIO              1
#define BOARD_NUM_BUTTONS           4
#define BOARD_NUM_LEDS              8
#define BOARD_HAS_AUDIO_OUT         1
#define BOARD_AUDIO_OUT_CHANNELS    2
#define BOARD_HAS_AUDIO_IN          1
#define BOARD_AUDIO_IN_CHANNELS     1
#define BOARD_HAS_SENSORS           1
#define BOARD_NUM_SENSOR_CHANNELS   7
#define SENSOR_CH_ACCEL             0
#define SENSOR_CH_GYRO              1
#define SENSOR_CH_MAG               2
#define SENSOR_CH_TEMPERATURE       3
#define SENSOR_CH_HUMIDITY          4
#define SENSOR_CH_PRESSURE          5
#define SENSOR_CH_LIGHT             6

#elif defined(BOARD_WATCH)
#define BOARD_HAS_DISPLAY           1
#define BOARD_DISPLAY_WIDTH         240
#define BOARD_DISPLAY_HEIGHT        240
#define BOARD_HAS_TOUCH             1
#define BOARD_HAS_GPIO              1
#define BOARD_NUM_BUTTONS           2
#define BOARD_NUM_LEDS              1
#define BOARD_HAS_AUDIO_OUT         1
#define BOARD_AUDIO_OUT_CHANNELS    1
#define BOARD_HAS_SENSORS           1
#define BOARD_NUM_SENSOR_CHANNELS   3
#define SENSOR_CH_ACCEL             0
#define SENSOR_CH_HEART_RATE        1
#define SENSOR_CH_STEPS             2
#define BOARD_HAS_RADIO             1

#elif defined(BOARD_SPEAKER)
#define BOARD_HAS_GPIO              1
#define BOARD_NUM_BUTTONS           3
#define BOARD_NUM_LEDS              8
#define BOARD_HAS_AUDIO_OUT         1
#define BOARD_AUDIO_OUT_CHANNELS    2
#define BOARD_HAS_AUDIO_IN          1
#define BOARD_AUDIO_IN_CHANNELS     1
#define BOARD_HAS_SENSORS           1
#define BOARD_NUM_SENSOR_CHANNELS   1
#define SENSOR_CH_TEMPERATURE       0
#define BOARD_HAS_RADIO             1

#elif defined(BOARD_PHONE)
#define BOARD_HAS_DISPLAY           1
#define BOARD_DISPLAY_WIDTH         480
#define BOARD_DISPLAY_HEIGHT        800
#define BOARD_HAS_TOUCH             1
#define BOARD_HAS_GPIO              1
#define BOARD_NUM_BUTTONS           3
#define BOARD_NUM_LEDS              1
#define BOARD_HAS_AUDIO_OUT         1
#define BOARD_AUDIO_OUT_CHANNELS    2
#define BOARD_HAS_AUDIO_IN          1
#define BOARD_AUDIO_IN_CHANNELS     1
#define BOARD_HAS_SENSORS           1
#define BOARD_NUM_SENSOR_CHANNELS   2
#define SENSOR_CH_ACCEL             0
#define SENSOR_CH_LIGHT             1
#define BOARD_HAS_RADIO             1

#elif defined(BOARD_SENSOR_NODE)
#define BOARD_HAS_GPIO              1
#define BOARD_NUM_BUTTONS           1
#define BOARD_NUM_LEDS              1
#define BOARD_HAS_SENSORS           1
#define BOARD_NUM_SENSOR_CHANNELS   3
#define SENSOR_CH_TEMPERATURE       0
#define SENSOR_CH_HUMIDITY          1
#define SENSOR_CH_LIGHT             2
#define BOARD_HAS_RADIO             1
#endif

#ifndef BOARD_HAS_DISPLAY
#define BOARD_HAS_DISPLAY           0
#endif
#ifndef BOARD_HAS_TOUCH
#define BOARD_HAS_TOUCH             0
#endif
#ifndef BOARD_HAS_GPIO
#define BOARD_HAS_GPIO              0
#define BOARD_NUM_BUTTONS           0
#define BOARD_NUM_LEDS              0
#endif
#ifndef BOARD_HAS_AUDIO_OUT
#define BOARD_HAS_AUDIO_OUT         0
#endif
#ifndef BOARD_HAS_AUDIO_IN
#define BOARD_HAS_AUDIO_IN          0
#endif
#ifndef BOARD_HAS_SENSORS
#define BOARD_HAS_SENSORS           0
#define BOARD_NUM_SENSOR_CHANNELS   0
#endif
#ifndef BOARD_HAS_RADIO
#define BOARD_HAS_RADIO             0
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
