/*
 * ARM SBCon two-wire serial bus interface: the MPS2's bit-banged I2C
 * controller (Linux "arm,versatile-i2c", Zephyr i2c_sbcon). It is just the
 * two open-drain lines: software writes 1s to CONTROLS to release SCL/SDA
 * (the pull-ups take them high) and 1s to CONTROLC to pull them low, and
 * reads the levels on the bus from CONTROL. SDA reads low while either
 * the master or a target pulls it, so ACKs and read data show there.
 * Software generates START/STOP, clocks the bits (MSB first; a target
 * changes SDA only while SCL is low) and handles ACK/NACK itself.
 */
#ifndef ENSEMBLE_SBCON_I2C_H
#define ENSEMBLE_SBCON_I2C_H

#include <stdint.h>

struct sbcon_i2c {
    union {
        volatile uint32_t control;   /* 0x00 read: bus levels, SCL b0 SDA b1 */
        volatile uint32_t controls;  /* 0x00 write 1s: release (set) lines   */
    };
    volatile uint32_t controlc;      /* 0x04 write 1s: pull lines low        */
};

#define SBCON_CONTROL   0x00u
#define SBCON_CONTROLS  0x00u
#define SBCON_CONTROLC  0x04u

#define SBCON_SCL       (1u << 0)
#define SBCON_SDA       (1u << 1)

/* The four controllers of the MPS2 AN385/AN386 (4 KiB windows). */
#define SBCON_I2C_TOUCH_BASE    0x40022000u   /* touch screen controller */
#define SBCON_I2C_AUDIO_BASE    0x40023000u   /* audio codec             */
#define SBCON_I2C_SHIELD0_BASE  0x40029000u   /* Shield connector bus 0: the LIS3DH at 0x18 */
#define SBCON_I2C_SHIELD1_BASE  0x4002A000u   /* Shield connector bus 1  */

#define SBCON_I2C_TOUCH    ((struct sbcon_i2c *)SBCON_I2C_TOUCH_BASE)
#define SBCON_I2C_AUDIO    ((struct sbcon_i2c *)SBCON_I2C_AUDIO_BASE)
#define SBCON_I2C_SHIELD0  ((struct sbcon_i2c *)SBCON_I2C_SHIELD0_BASE)
#define SBCON_I2C_SHIELD1  ((struct sbcon_i2c *)SBCON_I2C_SHIELD1_BASE)

#endif
