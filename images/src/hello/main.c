/*
 * hello: the smallest useful image. Proves that reset, the .data copy and
 * .bss clearing, the UART and a few identification registers work, then
 * goes to sleep with no interrupt source enabled, so an emulator should
 * report the guest as asleep with nothing left that could wake it.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"

#if BOARD_HAS_SCC
#include "mps2_scc.h"
#endif

/* Checked at run time: proves Reset_Handler copied .data and cleared .bss. */
static volatile uint32_t initialised = 0x600DDA7Au;
static volatile uint32_t zeroed;

int main(void)
{
    uint32_t cpuid = SCB->cpuid;

    con_puts("hello: Ensemble test image on " BOARD_NAME "\n");
#if BOARD_HAS_SCC
    con_printf("hello: SCC ID 0x%08x\n", (unsigned)MPS2_SCC->id);
#endif
    con_printf("hello: CPUID 0x%08x (part 0x%03x r%up%u)\n", (unsigned)cpuid,
               (unsigned)((cpuid >> 4) & 0xFFF), (unsigned)((cpuid >> 20) & 0xF),
               (unsigned)(cpuid & 0xF));
    con_printf("hello: .data %s, .bss %s\n",
               initialised == 0x600DDA7Au ? "ok" : "BAD",
               zeroed == 0 ? "ok" : "BAD");
    con_printf("hello: running %s on the %s stack\n",
               (get_control() & CONTROL_NPRIV) ? "unprivileged" : "privileged",
               (get_control() & CONTROL_SPSEL) ? "process" : "main");
    con_puts("hello: done\n");

    /* No interrupt is enabled anywhere, so nothing can end this sleep. */
    for (;;)
        cpu_wfi();
}
