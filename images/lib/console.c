/* Polled UART0 console; see include/console.h. */
#include <stdarg.h>
#include <stdint.h>

#include "board.h"
#include "console.h"

#define CONSOLE_BAUD 115200u

void con_init(void)
{
    UART0->bauddiv = SYSCLK_HZ / CONSOLE_BAUD;
    UART0->ctrl = UART_CTRL_TX_EN;
}

static void uart_write(char c)
{
    /* One-byte transmit buffer: wait until the previous byte has moved to
     * the shift register. */
    while (UART0->state & UART_STATE_TXFULL)
        ;
    UART0->data = (uint8_t)c;
}

void con_putc(char c)
{
    /* CR LF keeps a raw terminal (QEMU -nographic) from staircasing. */
    if (c == '\n')
        uart_write('\r');
    uart_write(c);
}

void con_puts(const char *s)
{
    while (*s)
        con_putc(*s++);
}

/* Digits of v in the given base, padded to width with pad. */
static void put_uint(uint32_t v, unsigned base, int upper, unsigned width, char pad)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char buf[32];
    unsigned n = 0;

    do {
        buf[n++] = digits[v % base];
        v /= base;
    } while (v);
    while (n < width && n < sizeof buf)
        buf[n++] = pad;
    while (n)
        con_putc(buf[--n]);
}

void con_put_hex(uint32_t v)
{
    con_puts("0x");
    put_uint(v, 16, 0, 8, '0');
}

void con_put_dec(uint32_t v)
{
    put_uint(v, 10, 0, 0, ' ');
}

void con_put_sdec(int32_t v)
{
    if (v < 0) {
        con_putc('-');
        put_uint(-(uint32_t)v, 10, 0, 0, ' ');
    } else {
        put_uint((uint32_t)v, 10, 0, 0, ' ');
    }
}

void con_printf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            con_putc(*fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        unsigned width = 0;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned)(*fmt++ - '0');

        switch (*fmt) {
        case 'd': {
            int32_t v = va_arg(ap, int32_t);
            if (v < 0) {
                con_putc('-');
                put_uint(-(uint32_t)v, 10, 0, width ? width - 1 : 0, pad);
            } else {
                put_uint((uint32_t)v, 10, 0, width, pad);
            }
            break;
        }
        case 'u': put_uint(va_arg(ap, uint32_t), 10, 0, width, pad); break;
        case 'x': put_uint(va_arg(ap, uint32_t), 16, 0, width, pad); break;
        case 'X': put_uint(va_arg(ap, uint32_t), 16, 1, width, pad); break;
        case 'c': con_putc((char)va_arg(ap, int)); break;
        case 's': con_puts(va_arg(ap, const char *)); break;
        case '%': con_putc('%'); break;
        case '\0': fmt--; break;  /* lone '%' at the end: stop cleanly */
        default: con_putc('%'); con_putc(*fmt); break;
        }
    }
    va_end(ap);
}
