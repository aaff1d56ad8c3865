/*
 * accel-lis3dh: talk to an ST LIS3DH accelerometer on the MPS2 Shield 0 I2C
 * bus (SBCon at 0x40029000, address 0x18) by bit-banging I2C. Reads
 * WHO_AM_I, selects 100 Hz with X/Y/Z on, high-resolution, +-2 g and
 * block data update, then waits for STATUS_REG.ZYXDA a few times and
 * prints each X/Y/Z sample in mg. Lying still face up, that is about
 * 0, 0, 1000.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "lis3dh.h"
#include "sbcon_i2c.h"

#define BUS      SBCON_I2C_SHIELD0
#define ADDR     LIS3DH_ADDR_SA0_LOW
#define SAMPLES  4u
/* Status polls before giving up on a sample (one poll is a whole I2C
 * transfer, so this is far longer than the 10 ms sample period). */
#define POLL_LIMIT 100000u

/* Half a bit time: a few microseconds, so that real hardware sees a
 * sub-100 kHz clock. Costs nothing that matters in an emulator. */
static void i2c_delay(void)
{
    for (volatile unsigned i = 0; i < 16; i++)
        ;
}

static void scl(int high)
{
    if (high)
        BUS->controls = SBCON_SCL;
    else
        BUS->controlc = SBCON_SCL;
    i2c_delay();
}

static void sda(int high)
{
    if (high)
        BUS->controls = SBCON_SDA;
    else
        BUS->controlc = SBCON_SDA;
    i2c_delay();
}

static int sda_level(void)
{
    return (BUS->control & SBCON_SDA) != 0;
}

/* START, or a repeated START when SCL is low mid-transfer. */
static void i2c_start(void)
{
    sda(1);
    scl(1);
    sda(0);
    scl(0);
}

static void i2c_stop(void)
{
    sda(0);
    scl(1);
    sda(1);
}

/* Send a byte MSB first; returns 1 when the target ACKed. */
static int i2c_write_byte(uint8_t byte)
{
    for (int i = 7; i >= 0; i--) {
        sda((byte >> i) & 1);
        scl(1);
        scl(0);
    }
    sda(1);                 /* release SDA for the ACK bit */
    scl(1);
    int ack = !sda_level();
    scl(0);
    return ack;
}

/* Receive a byte; ACK it when more are wanted, NACK the last one. */
static uint8_t i2c_read_byte(int ack)
{
    uint8_t byte = 0;

    sda(1);
    for (int i = 0; i < 8; i++) {
        scl(1);
        byte = (uint8_t)((byte << 1) | sda_level());
        scl(0);
    }
    sda(!ack);
    scl(1);
    scl(0);
    sda(1);
    return byte;
}

/* Write one register. Returns 0 on success, -1 on a NACK. */
static int lis_write(uint8_t reg, uint8_t value)
{
    int ok;

    i2c_start();
    ok = i2c_write_byte((uint8_t)(ADDR << 1)) && i2c_write_byte(reg) &&
         i2c_write_byte(value);
    i2c_stop();
    return ok ? 0 : -1;
}

/* Read n registers from reg on (auto-incrementing when n > 1). */
static int lis_read(uint8_t reg, uint8_t *buf, unsigned n)
{
    if (n > 1)
        reg |= LIS3DH_AUTO_INCREMENT;
    i2c_start();
    if (!i2c_write_byte((uint8_t)(ADDR << 1)) || !i2c_write_byte(reg)) {
        i2c_stop();
        return -1;
    }
    i2c_start();
    if (!i2c_write_byte((uint8_t)((ADDR << 1) | 1))) {
        i2c_stop();
        return -1;
    }
    for (unsigned i = 0; i < n; i++)
        buf[i] = i2c_read_byte(i + 1 < n);
    i2c_stop();
    return 0;
}

/* High-resolution, +-2 g: 12-bit left-justified, 1 mg per digit. */
static int32_t to_mg(uint8_t lo, uint8_t hi)
{
    int16_t raw = (int16_t)(uint16_t)(lo | (hi << 8));
    return raw / 16;
}

int main(void)
{
    uint8_t id, status, d[6];

    /* Both lines released: the bus is idle. */
    BUS->controls = SBCON_SCL | SBCON_SDA;

    if (lis_read(LIS3DH_WHO_AM_I, &id, 1) != 0) {
        con_puts("accel-lis3dh: no ACK from the LIS3DH at 0x18\n");
        con_puts("accel done\n");
        return 0;
    }
    con_printf("accel-lis3dh: WHO_AM_I 0x%02x (%s)\n", (unsigned)id,
               id == LIS3DH_ID ? "LIS3DH" : "unexpected");

    if (lis_write(LIS3DH_CTRL_REG1, LIS3DH_CTRL1_ODR(LIS3DH_ODR_100HZ) | LIS3DH_CTRL1_XYZ) ||
        lis_write(LIS3DH_CTRL_REG4,
                  LIS3DH_CTRL4_BDU | LIS3DH_CTRL4_FS(LIS3DH_FS_2G) | LIS3DH_CTRL4_HR)) {
        con_puts("accel-lis3dh: configuration write NACKed\n");
        con_puts("accel done\n");
        return 0;
    }
    if (lis_read(LIS3DH_CTRL_REG1, d, 4) == 0)
        con_printf("accel-lis3dh: CTRL_REG1 0x%02x CTRL_REG4 0x%02x\n", (unsigned)d[0],
                   (unsigned)d[3]);

    for (unsigned s = 0; s < SAMPLES; s++) {
        unsigned polls = 0;

        do {
            if (lis_read(LIS3DH_STATUS_REG, &status, 1) != 0)
                status = 0;
        } while (!(status & LIS3DH_STATUS_ZYXDA) && ++polls < POLL_LIMIT);
        if (!(status & LIS3DH_STATUS_ZYXDA)) {
            con_puts("accel-lis3dh: no data (ZYXDA never set)\n");
            break;
        }
        if (lis_read(LIS3DH_OUT_X_L, d, 6) != 0) {
            con_puts("accel-lis3dh: data read NACKed\n");
            break;
        }
        con_printf("accel-lis3dh: sample %u: x %d y %d z %d mg\n", s,
                   (int)to_mg(d[0], d[1]), (int)to_mg(d[2], d[3]),
                   (int)to_mg(d[4], d[5]));
    }

    con_puts("accel done\n");
    return 0;   /* the reset handler halts: interrupts off, no wake-up source */
}
