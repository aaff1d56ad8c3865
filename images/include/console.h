/*
 * Polled console on UART0. Deliberately tiny (no newlib stdio): images must
 * stay small and must be able to print from any exception handler, so every
 * call busy-waits on the UART and never allocates or takes locks.
 */
#ifndef ENSEMBLE_CONSOLE_H
#define ENSEMBLE_CONSOLE_H

#include <stdint.h>

void con_init(void);
void con_putc(char c);
void con_puts(const char *s);               /* no newline appended */
void con_put_hex(uint32_t v);               /* "0x" + 8 hex digits */
void con_put_dec(uint32_t v);
void con_put_sdec(int32_t v);

/*
 * Minimal formatted output: %s %c %d %u %x %X %%, with an optional '0' flag
 * and field width (e.g. %08x). No floating point, no length modifiers.
 */
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
