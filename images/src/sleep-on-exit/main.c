/*
 * sleep-on-exit: SCR.SLEEPONEXIT makes the core go back to sleep after each
 * handler instead of returning to the thread. Here the thread arms SysTick
 * and sleeps once; five ticks are handled without the thread ever running,
 * then the last handler clears SLEEPONEXIT and the thread resumes. Also
 * checks that WFE returns at once when the event register is set (every
 * exception return sets it) and that SEV sets it.
 */
#include "board.h"
#include "console.h"
#include "cortex_m.h"

static volatile unsigned ticks;
static volatile unsigned thread_runs;

void SysTick_Handler(void)
{
    ticks++;
    con_printf("  SysTick %u, thread ran %u times since arming\n", ticks, thread_runs);
    if (ticks == 5) {
        SYSTICK->ctrl = 0;
        SCB->scr &= ~SCR_SLEEPONEXIT;
    }
}

int main(void)
{
    con_init();
    con_puts("sleep-on-exit: SysTick every 1 ms, SLEEPONEXIT set\n");
    SYSTICK->load = SYSCLK_HZ / 1000 - 1;
    SYSTICK->val = 0;
    SCB->scr |= SCR_SLEEPONEXIT;
    SYSTICK->ctrl = SYSTICK_CTRL_ENABLE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_CLKSOURCE;
    cpu_wfi();
    thread_runs++;
    con_printf("thread resumed after %u ticks, having run %u time(s)\n", ticks, thread_runs);

    /* The SysTick returns above left the event register set: this WFE
     * clears it and returns at once; SEV sets it again for the next one. */
    __asm volatile("wfe");
    __asm volatile("sev");
    __asm volatile("wfe");
    con_puts("WFE with the event register set returned at once (twice)\n");
    con_puts("sleep-on-exit: done\n");
    cpu_irq_disable();
    for (;;)
        cpu_wfi();
}
