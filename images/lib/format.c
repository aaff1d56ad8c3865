/* Integer number formatting; see include/format.h. */
#include <stdint.h>

#include "format.h"

unsigned fmt_uint(char *buf, uint32_t v, unsigned min_digits)
{
    char tmp[10];
    unsigned n = 0, len = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (min_digits > n && len < FMT_BUF_SIZE - 1 - n) {
        buf[len++] = '0';
        min_digits--;
    }
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

unsigned fmt_int(char *buf, int32_t v, unsigned min_digits)
{
    if (v < 0) {
        buf[0] = '-';
        return 1 + fmt_uint(buf + 1, -(uint32_t)v, min_digits);
    }
    return fmt_uint(buf, (uint32_t)v, min_digits);
}

unsigned fmt_milli(char *buf, int32_t v, unsigned decimals)
{
    static const uint32_t pow10[4] = {1, 10, 100, 1000};
    uint32_t mag = v < 0 ? -(uint32_t)v : (uint32_t)v;
    unsigned len = 0;

    if (decimals > 3)
        decimals = 3;
    /* Round to the last printed digit; |INT32_MIN| + 500 still fits. */
    uint32_t div = pow10[3 - decimals];
    mag = (mag + div / 2) / div;

    if (v < 0 && mag != 0)
        buf[len++] = '-';
    len += fmt_uint(buf + len, mag / pow10[decimals], 1);
    if (decimals) {
        buf[len++] = '.';
        len += fmt_uint(buf + len, mag % pow10[decimals], decimals);
    }
    return len;
}
