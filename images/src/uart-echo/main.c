/*
 * uart-echo: the console's receive path. Bytes arrive by the UART0 RX
 * interrupt while the core sleeps in WFI; each line is echoed back in upper
 * case with its number. A line "quit" ends the image (asleep for good).
 */
#include "board.h"
#include "cmsdk_uart.h"
#include "console.h"
#include "cortex_m.h"

static char line[80];
static volatile unsigned len;
static volatile unsigned lines;
static volatile int quit;

void IRQ0_Handler(void)
{
    UART0->intstatus = UART_INT_RX;
    char c = (char)UART0->data;
    if (c == '\r')
        return;
    if (c != '\n') {
        if (len < sizeof line - 1)
            line[len++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
        return;
    }
    line[len] = 0;
    lines++;
    con_printf("echo %u: %s\n", lines, line);
    if (len == 4 && line[0] == 'Q' && line[1] == 'U' && line[2] == 'I' && line[3] == 'T')
        quit = 1;
    len = 0;
}

int main(void)
{
    con_init();
    con_puts("uart-echo: type lines, 'quit' to stop\n");
    UART0->ctrl |= UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;
    nvic_enable(IRQ_UART0_RX);
    while (!quit)
        cpu_wfi();
    con_printf("uart-echo: done after %u lines\n", lines);
    cpu_irq_disable();
    for (;;)
        cpu_wfi();
}
