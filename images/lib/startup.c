/*
 * Reset and exception entry for every test image: the vector table, the
 * C run-time set-up done by Reset_Handler, a catch-all handler for
 * exceptions an image did not expect, and halt().
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "runtime.h"

/* Provided by the linker script (images/ld/sections.ld). */
extern uint32_t __stack_top[];
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];

int main(void);

void Default_Handler(void);

/* Every handler is a weak alias of Default_Handler; an image overrides one
 * simply by defining a function with the same name. */
#define WEAK_DEFAULT __attribute__((weak, alias("Default_Handler")))

void NMI_Handler(void) WEAK_DEFAULT;
void HardFault_Handler(void) WEAK_DEFAULT;
void MemManage_Handler(void) WEAK_DEFAULT;
void BusFault_Handler(void) WEAK_DEFAULT;
void UsageFault_Handler(void) WEAK_DEFAULT;
void SVC_Handler(void) WEAK_DEFAULT;
void DebugMon_Handler(void) WEAK_DEFAULT;
void PendSV_Handler(void) WEAK_DEFAULT;
void SysTick_Handler(void) WEAK_DEFAULT;
void IRQ0_Handler(void) WEAK_DEFAULT;
void IRQ1_Handler(void) WEAK_DEFAULT;
void IRQ2_Handler(void) WEAK_DEFAULT;
void IRQ3_Handler(void) WEAK_DEFAULT;
void IRQ4_Handler(void) WEAK_DEFAULT;
void IRQ5_Handler(void) WEAK_DEFAULT;
void IRQ6_Handler(void) WEAK_DEFAULT;
void IRQ7_Handler(void) WEAK_DEFAULT;
void IRQ8_Handler(void) WEAK_DEFAULT;
void IRQ9_Handler(void) WEAK_DEFAULT;
void IRQ10_Handler(void) WEAK_DEFAULT;
void IRQ11_Handler(void) WEAK_DEFAULT;
void IRQ12_Handler(void) WEAK_DEFAULT;
void IRQ13_Handler(void) WEAK_DEFAULT;
void IRQ14_Handler(void) WEAK_DEFAULT;
void IRQ15_Handler(void) WEAK_DEFAULT;
void IRQ16_Handler(void) WEAK_DEFAULT;
void IRQ17_Handler(void) WEAK_DEFAULT;
void IRQ18_Handler(void) WEAK_DEFAULT;
void IRQ19_Handler(void) WEAK_DEFAULT;
void IRQ20_Handler(void) WEAK_DEFAULT;
void IRQ21_Handler(void) WEAK_DEFAULT;
void IRQ22_Handler(void) WEAK_DEFAULT;
void IRQ23_Handler(void) WEAK_DEFAULT;
void IRQ24_Handler(void) WEAK_DEFAULT;
void IRQ25_Handler(void) WEAK_DEFAULT;
void IRQ26_Handler(void) WEAK_DEFAULT;
void IRQ27_Handler(void) WEAK_DEFAULT;
void IRQ28_Handler(void) WEAK_DEFAULT;
void IRQ29_Handler(void) WEAK_DEFAULT;
void IRQ30_Handler(void) WEAK_DEFAULT;
void IRQ31_Handler(void) WEAK_DEFAULT;

typedef void (*vector_t)(void);

/*
 * The table the core reads at reset (VTOR = 0): word 0 is the initial MSP,
 * word n the handler of exception n, with bit 0 set (Thumb) as the C
 * compiler does for every function address.
 */
__attribute__((section(".vectors"), used))
const vector_t vector_table[16 + BOARD_NUM_IRQS] = {
    (vector_t)__stack_top,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0, 0, 0, 0,                 /* 7-10 reserved */
    SVC_Handler,
    DebugMon_Handler,
    0,                          /* 13 reserved */
    PendSV_Handler,
    SysTick_Handler,
    IRQ0_Handler,  IRQ1_Handler,  IRQ2_Handler,  IRQ3_Handler,
    IRQ4_Handler,  IRQ5_Handler,  IRQ6_Handler,  IRQ7_Handler,
    IRQ8_Handler,  IRQ9_Handler,  IRQ10_Handler, IRQ11_Handler,
    IRQ12_Handler, IRQ13_Handler, IRQ14_Handler, IRQ15_Handler,
    IRQ16_Handler, IRQ17_Handler, IRQ18_Handler, IRQ19_Handler,
    IRQ20_Handler, IRQ21_Handler, IRQ22_Handler, IRQ23_Handler,
    IRQ24_Handler, IRQ25_Handler, IRQ26_Handler, IRQ27_Handler,
    IRQ28_Handler, IRQ29_Handler, IRQ30_Handler, IRQ31_Handler,
};

void Reset_Handler(void)
{
#ifdef __ARM_FP
    /* Hard-float builds may execute FP instructions in any C function, so
     * CP10/CP11 must be enabled before the first one; the ISB makes the new
     * access rights apply to the instructions that follow. */
    SCB->cpacr |= CPACR_CP10_CP11_FULL;
    cpu_barrier();
#endif

    /* .data is linked to run from RAM but loaded after the code: copy it. */
    const uint32_t *src = __data_load;
    for (uint32_t *dst = __data_start; dst < __data_end;)
        *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end;)
        *dst++ = 0;

    con_init();
    main();
    halt();
}

/* Reached through Default_Handler with the exception frame's address. */
__attribute__((used, noreturn))
static void unexpected_exception(const uint32_t *frame)
{
    con_printf("\n*** unexpected exception %u, stacked PC 0x%08x\n",
               (unsigned)(get_ipsr() & 0x1FF), (unsigned)frame[FRAME_PC]);
    halt();
}

/*
 * Catch-all: find the frame (EXC_RETURN bit 2 says whether it was pushed on
 * the process or the main stack) and report. Naked, so the compiler does
 * not touch LR or SP before they are inspected.
 */
__attribute__((naked))
void Default_Handler(void)
{
    __asm volatile(
        "tst   lr, #4\n"
        "ite   eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "b     unexpected_exception\n");
}

void halt(void)
{
    cpu_irq_disable();
    SYSTICK->ctrl = 0;
    /* SysTick may already have pended itself before it was stopped. */
    SCB->icsr = ICSR_PENDSTCLR | ICSR_PENDSVCLR;
    for (unsigned i = 0; i < BOARD_NUM_IRQS / 32; i++) {
        NVIC->icer[i] = 0xFFFFFFFFu;
        NVIC->icpr[i] = 0xFFFFFFFFu;
    }
    cpu_barrier();
    /* A WFI also wakes for a pending interrupt that PRIMASK masks; there are
     * none left, so this sleeps for good. The loop only guards against
     * spurious wake-ups, which the architecture allows. */
    for (;;)
        cpu_wfi();
}
