/*
 * The SNS1 sensor hub (register-level documentation: include/sensors.h;
 * this is the library over it, lib/sensors.c), for boards with
 * BOARD_HAS_SENSORS. Channel numbers come from board.h (SENSOR_CH_ACCEL,
 * SENSOR_CH_TEMPERATURE, ...); values are milli-units as the hub reports
 * them (accel 9810 = 9.81 m/s^2, temperature 21500 = 21.5 C).
 *
 * Two ways to read a channel:
 *  - sensors_read(): the latest sample, whenever it suits (the FIFO just
 *    overflows quietly meanwhile);
 *  - sensors_drain(): every sample in order, with its time. With `irq` set
 *    in sensors_enable(), the hub interrupts once THRESHOLD samples are
 *    waiting; the handler masks that channel and records it for
 *    sensors_ready(), and sensors_drain() unmasks it again.
 *
 * The library does not own the vector table; an image that enables a
 * channel's interrupt routes IRQ_SENSORS (30):
 *
 *     void IRQ30_Handler(void) { sensors_irq(); }
 */
#ifndef ENSEMBLE_SENSORS_LIB_H
#define ENSEMBLE_SENSORS_LIB_H

#include <stdint.h>

/* Rates are in the hub's unit, millihertz. */
#define SENSOR_HZ(hz) ((uint32_t)(hz) * 1000u)

struct sensor_sample {
    uint64_t t_us;      /* virtual time of the sample, microseconds */
    int32_t v[3];       /* x, y, z (1-axis channels: v[0], others 0) */
};

/* Check the hub, stop every channel and its interrupt. Returns the number
 * of channels, or -1 if there is no SNS1. */
int sensors_init(void);

uint32_t sensors_type(unsigned ch);                 /* SENSOR_TYPE_* */
unsigned sensors_axes(unsigned ch);
const char *sensors_type_name(uint32_t type);       /* "accel", "temperature", ... */

/*
 * Start channel ch at rate_mhz (SENSOR_HZ(1) = once a second), from an
 * empty FIFO. threshold (1..32): samples waiting before the channel counts
 * as ready; irq: interrupt then (else poll sensors_count()).
 */
void sensors_enable(unsigned ch, uint32_t rate_mhz, unsigned threshold, int irq);
void sensors_disable(unsigned ch);

/* Latest sample: value[0..2] (x, y, z; 1-axis channels fill value[0] and
 * zero the others). */
void sensors_read(unsigned ch, int32_t value[3]);
int32_t sensors_read1(unsigned ch);                 /* value[0] only */

unsigned sensors_count(unsigned ch);                /* samples in the FIFO */

/*
 * Pop up to max samples, oldest first, into out; returns how many. Times:
 * the hub stamps only its latest sample, so earlier ones are placed one
 * sampling period apart before it (exact for rates that divide 10^9 mHz
 * evenly, within a microsecond otherwise). Times are extended to 64 bits
 * from the hub's 32-bit microsecond stamp, which needs a drain at least
 * every 71 minutes. Re-arms the channel's interrupt.
 */
unsigned sensors_drain(unsigned ch, struct sensor_sample *out, unsigned max);

/* Channels (bit c = channel c) whose interrupt fired since the last call. */
uint32_t sensors_ready(void);

void sensors_irq(void);

#endif
