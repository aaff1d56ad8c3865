/*
 * Ensemble sensor hub "SNS1": the board's sensors as channels of one
 * device, each sampled at its own rate into a FIFO. Ensemble's own design;
 * the model is devices/src/sensors.rs.
 *
 * On the MPS2-based boards and sensor-node: registers at 0x4010_5000,
 * IRQ 30. The board chooses which channels exist (up to 16, each type at
 * most once) and in what order; find them by reading TYPE.
 *
 * ---- Values and units --------------------------------------------------------
 * Every value is a signed 32-bit integer: the physical quantity in the SI
 * unit below, times 1000 ("milli-units").
 *   type  name         axes  unit (value / 1000)
 *   1     accel        3     m/s^2     (a device at rest face up: 0, 0, +9.81)
 *   2     gyro         3     rad/s
 *   3     mag          3     microtesla
 *   4     temperature  1     degree Celsius
 *   5     humidity     1     % relative humidity
 *   6     pressure     1     pascal
 *   7     light        1     lux
 *   8     heart-rate   1     beats per minute
 *   9     steps        1     steps (a count, as the source reports it)
 * Values are rounded to the nearest milli-unit and saturate at the int32
 * range. 1-axis channels report in VALUE_X; their VALUE_Y/Z read 0.
 * Where readings come from is the emulator's business: a constant, a
 * waveform, a CSV trace in virtual time, the window's controls or a
 * scenario step. A sample's value is the reading at the sample's own
 * virtual time (since the machine started, not since ENABLE).
 *
 * ---- Sampling ------------------------------------------------------------------
 * Setting a channel's CTRL.ENABLE (from 0) starts sampling at that time
 * T0; sample k is taken at T0 + k / (RATE_MHZ / 1000) seconds (so at T0
 * first), rounded down to a tick of the machine clock and counted from T0
 * so that it never drifts. Writing ENABLE while already enabled changes
 * nothing; clearing it stops sampling and keeps the FIFO and VALUE_*.
 * A write that changes RATE_MHZ while enabled restarts sampling at the
 * time of the write, as clearing and setting ENABLE would (a sample at
 * once); to avoid that extra sample, set the rate before enabling.
 * Each sample updates VALUE_X/Y/Z and TIMESTAMP and is appended to the
 * channel's 32-sample FIFO; a full FIFO drops the oldest sample and sets
 * STATUS.OVERFLOW. FIFO_DATA pops values: X, then Y, then Z of the oldest
 * sample for 3-axis channels (the sample leaves the FIFO with its last
 * axis, and FIFO_COUNT counts it until then), the one value for 1-axis
 * ones; it reads 0 when empty. Any read of FIFO_DATA pops, whatever its
 * size. If the oldest sample is dropped while partly read, the next pop
 * returns X of the new oldest.
 * Channel bit c of INT_STATUS is set while the channel's FIFO holds at
 * least THRESHOLD samples, enabled or not; the interrupt line is high
 * while INT_STATUS & INT_ENABLE is not 0. It clears itself as the FIFO
 * drains (or THRESHOLD is raised).
 *
 * Reset values in brackets; registers are 32-bit: reads of any size
 * return the bytes they cover, writes must be at the register's own
 * offset (narrow ones are zero-extended), unlisted offsets and absent
 * channels read 0 and ignore writes. Reset stops all sampling and
 * empties the FIFOs.
 */
#ifndef ENSEMBLE_SENSORS_H
#define ENSEMBLE_SENSORS_H

#include <stdint.h>

struct sensor_channel_regs {
    volatile uint32_t type;       /* +0x00 RO  SENSOR_TYPE_*                          */
    volatile uint32_t axes;       /* +0x04 RO  1 or 3                                 */
    volatile uint32_t ctrl;       /* +0x08 RW  SENSOR_CTRL_ENABLE [0]                 */
    volatile uint32_t rate_mhz;   /* +0x0C RW  samples per 1000 s, 1..1000000,
                                              clamped [1000 = 1 Hz]                 */
    volatile int32_t  value_x;    /* +0x10 RO  latest sample, milli-units [0]         */
    volatile int32_t  value_y;    /* +0x14 RO                                          */
    volatile int32_t  value_z;    /* +0x18 RO                                          */
    volatile uint32_t fifo_count; /* +0x1C RO  samples in the FIFO                    */
    volatile int32_t  fifo_data;  /* +0x20 RO  pops one value                         */
    volatile uint32_t status;     /* +0x24     SENSOR_STATUS_*, OVERFLOW W1C [0]     */
    volatile uint32_t threshold;  /* +0x28 RW  1..32, clamped [1]                     */
    volatile uint32_t timestamp;  /* +0x2C RO  latest sample's virtual time since
                                              machine start, us, low 32 bits [0]    */
    uint32_t reserved[4];
};

struct sensor_regs {
    volatile uint32_t id;           /* 0x000 RO  0x534e5331 "SNS1"      */
    volatile uint32_t num_channels; /* 0x004 RO  0..16                     */
    volatile uint32_t int_status;   /* 0x008 RO  bit c: channel c ready   */
    volatile uint32_t int_enable;   /* 0x00C RW  bit c: channel c [0]      */
    uint32_t reserved[60];
    struct sensor_channel_regs ch[16]; /* 0x100 + 0x40 * c             */
};

#define SENSORS_ID              0x534e5331u
#define SENSOR_CTRL_ENABLE      (1u << 0)
#define SENSOR_STATUS_READY     (1u << 0)   /* FIFO not empty */
#define SENSOR_STATUS_OVERFLOW  (1u << 1)   /* W1C */
#define SENSOR_FIFO_DEPTH       32

#define SENSOR_TYPE_ACCEL       1
#define SENSOR_TYPE_GYRO        2
#define SENSOR_TYPE_MAG         3
#define SENSOR_TYPE_TEMPERATURE 4
#define SENSOR_TYPE_HUMIDITY    5
#define SENSOR_TYPE_PRESSURE    6
#define SENSOR_TYPE_LIGHT       7
#define SENSOR_TYPE_HEART_RATE  8
#define SENSOR_TYPE_STEPS       9

#define SENSORS    ((struct sensor_regs *)0x40105000u)
#define IRQ_SENSORS 30

#endif
