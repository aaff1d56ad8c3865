/*
 * wfi-idle: a tickless-looking idle loop. SysTick runs at 100 Hz from the
 * 1 MHz reference clock (reload taken from SYST_CALIB, which reports the
 * reference ticks in 10 ms); main() sleeps in WFI between ticks and prints
 * a line every 100 ticks for 5 seconds of guest time. An emulator that
 * skips idle time finishes in far less than 5 s of wall time; QEMU takes 5.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "runtime.h"

#define TICK_HZ 100u
#define RUN_SECONDS 5u

static volatile uint32_t ticks;

void SysTick_Handler(void)
{
    ticks++;
}

int main(void)
{
    uint32_t tenms = SYSTICK->calib & SYSTICK_CALIB_TENMS;

    con_printf("wfi-idle: SysTick from the reference clock, CALIB=0x%08x, reload %u: %u Hz\n",
               (unsigned)SYSTICK->calib, (unsigned)tenms, TICK_HZ);
    /* TENMS is already "ticks per 10 ms minus one", i.e. a reload value. */
    SYSTICK->load = tenms;
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;   /* CLKSOURCE=0 */

    /* Only thresholds are printed, never the raw count: how many ticks
     * pass while a line is printed depends on the emulator. No wake-up can
     * be lost between the test and the WFI, because the next tick always
     * comes. */
    uint32_t next = TICK_HZ;
    while (next <= RUN_SECONDS * TICK_HZ) {
        cpu_wfi();
        if (ticks >= next) {
            con_printf("wfi-idle: %u ticks (%u s)\n", (unsigned)next, (unsigned)(next / TICK_HZ));
            next += TICK_HZ;
        }
    }

    SYSTICK->ctrl = 0;
    con_puts("wfi-idle: done\n");
    return 0;   /* the reset handler halts: interrupts off, no wake-up source */
}
