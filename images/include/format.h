/*
 * Integer-only number formatting into a caller's buffer (no libc, no
 * floats: the sensor-node's Cortex-M3 has no FPU). Shared by lib/gfx.c
 * (text on screen) and images that print through con_printf("%s").
 *
 * Every function writes a NUL-terminated string and returns its length.
 * FMT_BUF_SIZE is always enough.
 */
#ifndef ENSEMBLE_FORMAT_H
#define ENSEMBLE_FORMAT_H

#include <stdint.h>

#define FMT_BUF_SIZE 16

/* Decimal, at least min_digits digits (zero-padded): (7, 2) gives "07". */
unsigned fmt_uint(char *buf, uint32_t v, unsigned min_digits);
unsigned fmt_int(char *buf, int32_t v, unsigned min_digits);

/*
 * v in thousandths ("milli-units", as the sensor hub reports values) with
 * `decimals` (0..3) digits after the point, rounded half away from zero:
 * (21537, 3) gives "21.537", (-1250, 1) "-1.3", (499, 0) "0". A value that
 * rounds to zero has no minus sign.
 */
unsigned fmt_milli(char *buf, int32_t v, unsigned decimals);

#endif
