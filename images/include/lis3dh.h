/*
 * ST LIS3DH three-axis accelerometer, I2C interface (datasheet DocID17530).
 * On the Ensemble MPS2 boards it sits on the Shield 0 SBCon bus
 * (0x40029000, see sbcon_i2c.h) at 7-bit address 0x18 (SA0 low).
 *
 * Transfers: write = START, addr+W, sub-address, data..., STOP.
 * Read = START, addr+W, sub-address, repeated START, addr+R, data (ACK all
 * but the last, NACK the last), STOP. Sub-address bit 7 set: the register
 * address increments after each byte (burst access).
 *
 * Output data are 16-bit two's complement, left-justified, low byte at the
 * lower address (unless CTRL_REG4.BLE). Resolution and sensitivity by mode:
 *   high-resolution (HR=1, LPen=0): 12 bits, 1/2/4/12 mg/digit at +-2/4/8/16 g
 *   normal          (HR=0, LPen=0): 10 bits, 4/8/16/48 mg/digit
 *   low-power       (HR=0, LPen=1):  8 bits, 16/32/64/192 mg/digit
 * so in high-resolution mode mg = (int16_t)OUT / 16 * {1, 2, 4, 12}.
 */
#ifndef ENSEMBLE_LIS3DH_H
#define ENSEMBLE_LIS3DH_H

#define LIS3DH_ADDR_SA0_LOW   0x18u
#define LIS3DH_ADDR_SA0_HIGH  0x19u

#define LIS3DH_AUTO_INCREMENT 0x80u   /* OR into the sub-address */

/* Registers. */
#define LIS3DH_STATUS_REG_AUX 0x07u
#define LIS3DH_OUT_ADC1_L     0x08u
#define LIS3DH_OUT_ADC1_H     0x09u
#define LIS3DH_OUT_ADC2_L     0x0Au
#define LIS3DH_OUT_ADC2_H     0x0Bu
#define LIS3DH_OUT_ADC3_L     0x0Cu   /* temperature when TEMP_CFG.TEMP_EN */
#define LIS3DH_OUT_ADC3_H     0x0Du
#define LIS3DH_WHO_AM_I       0x0Fu
#define LIS3DH_CTRL_REG0      0x1Eu
#define LIS3DH_TEMP_CFG_REG   0x1Fu
#define LIS3DH_CTRL_REG1      0x20u
#define LIS3DH_CTRL_REG2      0x21u
#define LIS3DH_CTRL_REG3      0x22u
#define LIS3DH_CTRL_REG4      0x23u
#define LIS3DH_CTRL_REG5      0x24u
#define LIS3DH_CTRL_REG6      0x25u
#define LIS3DH_REFERENCE      0x26u
#define LIS3DH_STATUS_REG     0x27u
#define LIS3DH_OUT_X_L        0x28u
#define LIS3DH_OUT_X_H        0x29u
#define LIS3DH_OUT_Y_L        0x2Au
#define LIS3DH_OUT_Y_H        0x2Bu
#define LIS3DH_OUT_Z_L        0x2Cu
#define LIS3DH_OUT_Z_H        0x2Du
#define LIS3DH_FIFO_CTRL_REG  0x2Eu
#define LIS3DH_FIFO_SRC_REG   0x2Fu
#define LIS3DH_INT1_CFG       0x30u
#define LIS3DH_INT1_SRC       0x31u
#define LIS3DH_INT1_THS       0x32u
#define LIS3DH_INT1_DURATION  0x33u
#define LIS3DH_INT2_CFG       0x34u
#define LIS3DH_INT2_SRC       0x35u
#define LIS3DH_INT2_THS       0x36u
#define LIS3DH_INT2_DURATION  0x37u
#define LIS3DH_CLICK_CFG      0x38u
#define LIS3DH_CLICK_SRC      0x39u
#define LIS3DH_CLICK_THS      0x3Au
#define LIS3DH_TIME_LIMIT     0x3Bu
#define LIS3DH_TIME_LATENCY   0x3Cu
#define LIS3DH_TIME_WINDOW    0x3Du
#define LIS3DH_ACT_THS        0x3Eu
#define LIS3DH_ACT_DUR        0x3Fu

#define LIS3DH_ID             0x33u   /* WHO_AM_I value */

/* TEMP_CFG_REG */
#define LIS3DH_TEMP_CFG_ADC_EN   (1u << 7)
#define LIS3DH_TEMP_CFG_TEMP_EN  (1u << 6)

/* CTRL_REG1: ODR in bits 7:4, LPen, axis enables. Reset value 0x07. */
#define LIS3DH_CTRL1_ODR(code)   ((unsigned)(code) << 4)
#define LIS3DH_ODR_POWER_DOWN    0u
#define LIS3DH_ODR_1HZ           1u
#define LIS3DH_ODR_10HZ          2u
#define LIS3DH_ODR_25HZ          3u
#define LIS3DH_ODR_50HZ          4u
#define LIS3DH_ODR_100HZ         5u
#define LIS3DH_ODR_200HZ         6u
#define LIS3DH_ODR_400HZ         7u
#define LIS3DH_ODR_1620HZ_LP     8u   /* low-power mode only */
#define LIS3DH_ODR_1344HZ        9u   /* 5376 Hz in low-power mode */
#define LIS3DH_CTRL1_LPEN        (1u << 3)
#define LIS3DH_CTRL1_ZEN         (1u << 2)
#define LIS3DH_CTRL1_YEN         (1u << 1)
#define LIS3DH_CTRL1_XEN         (1u << 0)
#define LIS3DH_CTRL1_XYZ         (LIS3DH_CTRL1_XEN | LIS3DH_CTRL1_YEN | LIS3DH_CTRL1_ZEN)

/* CTRL_REG3: INT1 sources */
#define LIS3DH_CTRL3_I1_CLICK    (1u << 7)
#define LIS3DH_CTRL3_I1_IA1      (1u << 6)
#define LIS3DH_CTRL3_I1_IA2      (1u << 5)
#define LIS3DH_CTRL3_I1_ZYXDA    (1u << 4)
#define LIS3DH_CTRL3_I1_WTM      (1u << 2)
#define LIS3DH_CTRL3_I1_OVERRUN  (1u << 1)

/* CTRL_REG4 */
#define LIS3DH_CTRL4_BDU         (1u << 7)   /* block data update: L and H from one sample */
#define LIS3DH_CTRL4_BLE         (1u << 6)   /* 1: high byte at the lower address */
#define LIS3DH_CTRL4_FS(code)    ((unsigned)(code) << 4)
#define LIS3DH_FS_2G             0u
#define LIS3DH_FS_4G             1u
#define LIS3DH_FS_8G             2u
#define LIS3DH_FS_16G            3u
#define LIS3DH_CTRL4_HR          (1u << 3)   /* high-resolution (12-bit) mode */
#define LIS3DH_CTRL4_ST(code)    ((unsigned)(code) << 1)   /* self-test */
#define LIS3DH_CTRL4_SIM         (1u << 0)   /* 3-wire SPI */

/* CTRL_REG5 */
#define LIS3DH_CTRL5_BOOT        (1u << 7)   /* reboot memory content; clears itself */
#define LIS3DH_CTRL5_FIFO_EN     (1u << 6)
#define LIS3DH_CTRL5_LIR_INT1    (1u << 3)
#define LIS3DH_CTRL5_D4D_INT1    (1u << 2)
#define LIS3DH_CTRL5_LIR_INT2    (1u << 1)
#define LIS3DH_CTRL5_D4D_INT2    (1u << 0)

/* CTRL_REG6 */
#define LIS3DH_CTRL6_INT_POLARITY (1u << 1)  /* 1: interrupts active low */

/* STATUS_REG (STATUS_REG_AUX: same layout for ADC channels 1, 2, 3) */
#define LIS3DH_STATUS_ZYXOR      (1u << 7)
#define LIS3DH_STATUS_ZOR        (1u << 6)
#define LIS3DH_STATUS_YOR        (1u << 5)
#define LIS3DH_STATUS_XOR        (1u << 4)
#define LIS3DH_STATUS_ZYXDA      (1u << 3)   /* a new X, Y, Z set is available */
#define LIS3DH_STATUS_ZDA        (1u << 2)
#define LIS3DH_STATUS_YDA        (1u << 1)
#define LIS3DH_STATUS_XDA        (1u << 0)

/* FIFO_CTRL_REG: mode in bits 7:6, trigger select, threshold 4:0 */
#define LIS3DH_FIFO_MODE(code)   ((unsigned)(code) << 6)
#define LIS3DH_FIFO_BYPASS       0u
#define LIS3DH_FIFO_FIFO         1u
#define LIS3DH_FIFO_STREAM       2u
#define LIS3DH_FIFO_STREAM_TO_FIFO 3u

/* FIFO_SRC_REG */
#define LIS3DH_FIFO_SRC_WTM      (1u << 7)
#define LIS3DH_FIFO_SRC_OVRN     (1u << 6)
#define LIS3DH_FIFO_SRC_EMPTY    (1u << 5)
#define LIS3DH_FIFO_SRC_FSS_MASK 0x1Fu

/* INTx_SRC / CLICK_SRC */
#define LIS3DH_INT_SRC_IA        (1u << 6)

#endif
