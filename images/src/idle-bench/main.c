/*
 * idle-bench: a mostly idle guest for measuring how cheaply an emulator
 * idles. CMSDK timer0 interrupts at 1 kHz and main() sleeps in WFI between
 * interrupts, for 60 s of guest time (60000 interrupts, counted, not timed
 * against the host). QEMU needs the full 60 s of wall time.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "runtime.h"

#define TICK_HZ 1000u
#define RUN_SECONDS 60u
#define REPORT_SECONDS 10u

static volatile uint32_t ticks;

void IRQ8_Handler(void)   /* timer0 */
{
    TIMER0->intstatus = TIMER_INT;   /* level interrupt: clear before return */
    ticks++;
}

int main(void)
{
    con_printf("idle-bench: timer0 at %u Hz, WFI between interrupts, %u s of guest time\n",
               TICK_HZ, RUN_SECONDS);
    nvic_enable(IRQ_TIMER0);
    /* The counter reloads after reaching zero: the period is RELOAD + 1. */
    TIMER0->reload = SYSCLK_HZ / TICK_HZ - 1;
    TIMER0->value = SYSCLK_HZ / TICK_HZ - 1;
    TIMER0->ctrl = TIMER_CTRL_ENABLE | TIMER_CTRL_IRQ_EN;

    uint32_t next = REPORT_SECONDS * TICK_HZ;
    while (next <= RUN_SECONDS * TICK_HZ) {
        cpu_wfi();
        if (ticks >= next) {
            con_printf("idle-bench: %u s\n", (unsigned)(next / TICK_HZ));
            next += REPORT_SECONDS * TICK_HZ;
        }
    }

    TIMER0->ctrl = 0;
    con_puts("idle-bench: done\n");
    return 0;
}
