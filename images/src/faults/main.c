/*
 * faults: synchronous fault reporting and recovery on a Cortex-M3 (AN385).
 *
 * Each case runs one faulting instruction (faults.S). The handler prints
 * the fault status registers (CFSR decoded, HFSR, BFAR/MMFAR when marked
 * valid), checks that the stacked PC is the faulting instruction, then
 * resumes after it (or at the caller, for a bad branch target) by editing
 * the stacked PC, and the case goes on. Covered: escalation of a disabled
 * fault to HardFault (FORCED), UsageFault UNDEFINSTR, DIVBYZERO, UNALIGNED
 * and INVSTATE, BusFault PRECISERR with BFAR, escalation of an enabled
 * BusFault that BASEPRI masks, and MemManage IACCVIOL for execution from
 * the execute-never System region.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "runtime.h"

/* Nothing is mapped here on MPS2 (between the PSRAM and the peripherals). */
#define UNMAPPED_ADDR 0x60000000u
/* System region: execute-never in the default memory map. */
#define XN_ADDR 0xE0000000u

/* faults.S */
void fault_udf(void);
uint32_t fault_load(uint32_t addr);
uint32_t fault_udiv(uint32_t a, uint32_t b);
void fault_call(uint32_t target);
void fault_target(void);
extern const uint16_t fault_udf_pc[], fault_load_pc[], fault_udiv_pc[];

/* What the running case expects the handler to find. */
static struct {
    uint32_t pc;        /* address of the instruction that must fault */
    int resume_at_lr;   /* branch-target faults: return to the caller */
} expect;
static volatile unsigned faults_taken;

static const char *const cfsr_names[32] = {
    [0] = "IACCVIOL", [1] = "DACCVIOL", [3] = "MUNSTKERR", [4] = "MSTKERR",
    [5] = "MLSPERR", [7] = "MMARVALID",
    [8] = "IBUSERR", [9] = "PRECISERR", [10] = "IMPRECISERR", [11] = "UNSTKERR",
    [12] = "STKERR", [13] = "LSPERR", [15] = "BFARVALID",
    [16] = "UNDEFINSTR", [17] = "INVSTATE", [18] = "INVPC", [19] = "NOCP",
    [24] = "UNALIGNED", [25] = "DIVBYZERO",
};

static const char *exception_name(unsigned exc)
{
    switch (exc) {
    case EXC_HARDFAULT:  return "HardFault";
    case EXC_MEMMANAGE:  return "MemManage";
    case EXC_BUSFAULT:   return "BusFault";
    case EXC_USAGEFAULT: return "UsageFault";
    default:             return "?";
    }
}

/* Thumb-2: a halfword starting 0b11101, 0b11110 or 0b11111 begins a
 * 32-bit instruction. */
static unsigned insn_size(uint32_t pc)
{
    return *(const uint16_t *)pc >= 0xE800 ? 4 : 2;
}

/* Shared by all four fault handlers (see FAULT_ENTRY). */
__attribute__((used))
static void fault_handler(uint32_t *frame)
{
    unsigned exc = get_ipsr() & 0x1FF;
    uint32_t cfsr = SCB->cfsr, hfsr = SCB->hfsr;

    con_printf("  %s: CFSR=0x%08x (", exception_name(exc), (unsigned)cfsr);
    const char *sep = "";
    for (unsigned bit = 0; bit < 32; bit++) {
        if ((cfsr >> bit) & 1) {
            con_printf("%s%s", sep, cfsr_names[bit] ? cfsr_names[bit] : "?");
            sep = " ";
        }
    }
    con_puts(")");
    if (exc == EXC_HARDFAULT)
        con_printf(" HFSR=0x%08x%s", (unsigned)hfsr, (hfsr & HFSR_FORCED) ? " (FORCED)" : "");
    if (cfsr & CFSR_BFARVALID)
        con_printf(" BFAR=0x%08x", (unsigned)SCB->bfar);
    if (cfsr & CFSR_MMARVALID)
        con_printf(" MMFAR=0x%08x", (unsigned)SCB->mmfar);
    con_puts("\n");

    uint32_t pc = frame[FRAME_PC];
    if (pc != expect.pc) {
        con_printf("  stacked PC 0x%08x, expected 0x%08x: giving up\n",
                   (unsigned)pc, (unsigned)expect.pc);
        halt();
    }
    if (expect.resume_at_lr) {
        con_puts("  stacked PC = branch target, resuming at the caller\n");
        frame[FRAME_PC] = frame[FRAME_LR] & ~1u;
        /* An INVSTATE fault stacks EPSR.T = 0; returning like that would
         * just fault again. */
        frame[FRAME_XPSR] |= XPSR_T;
    } else {
        unsigned size = insn_size(pc);
        con_printf("  stacked PC = faulting instruction, skipping its %u bytes\n", size);
        frame[FRAME_PC] = pc + size;
    }

    /* The status bits are sticky and write-one-to-clear. */
    SCB->cfsr = cfsr;
    SCB->hfsr = hfsr;
    faults_taken++;
}

/* Locate the exception frame (EXC_RETURN bit 2: MSP or PSP), then C. */
#define FAULT_ENTRY(name)                 \
    __attribute__((naked)) void name(void) \
    {                                     \
        __asm volatile("tst   lr, #4\n"   \
                       "ite   eq\n"       \
                       "mrseq r0, msp\n"  \
                       "mrsne r0, psp\n"  \
                       "b     fault_handler\n"); \
    }

FAULT_ENTRY(HardFault_Handler)
FAULT_ENTRY(MemManage_Handler)
FAULT_ENTRY(BusFault_Handler)
FAULT_ENTRY(UsageFault_Handler)

static void expect_fault_at(const void *pc, int resume_at_lr)
{
    expect.pc = (uint32_t)pc;
    expect.resume_at_lr = resume_at_lr;
}

static void faults_seen(unsigned before, unsigned want)
{
    unsigned n = faults_taken - before;
    if (n != want)
        con_printf("  expected %u fault(s), saw %u\n", want, n);
}

static void case_undefined(void)
{
    unsigned before = faults_taken;

    con_puts("[1] udf #0 with UsageFault disabled: escalates to HardFault\n");
    expect_fault_at(fault_udf_pc, 0);
    fault_udf();

    con_puts("[2] udf #0 with UsageFault enabled (SHCSR.USGFAULTENA)\n");
    SCB->shcsr |= SHCSR_USGFAULTENA;
    fault_udf();
    faults_seen(before, 2);
}

static void case_bus_error(void)
{
    unsigned before = faults_taken;

    con_printf("[3] load from unmapped 0x%08x with BusFault disabled\n", UNMAPPED_ADDR);
    expect_fault_at(fault_load_pc, 0);
    fault_load(UNMAPPED_ADDR);

    con_puts("[4] the same load with BusFault enabled (SHCSR.BUSFAULTENA)\n");
    SCB->shcsr |= SHCSR_BUSFAULTENA;
    fault_load(UNMAPPED_ADDR);

    /* A synchronous fault whose priority does not beat the current
     * execution priority cannot be taken: it becomes a HardFault. */
    con_puts("[5] the same load with BusFault at priority 0x80 and BASEPRI=0x40\n");
    SCB_SHPR(EXC_BUSFAULT) = PRIO(4);
    set_basepri(PRIO(2));
    cpu_isb();
    fault_load(UNMAPPED_ADDR);
    set_basepri(0);
    cpu_isb();
    faults_seen(before, 3);
}

static void case_divide(void)
{
    unsigned before = faults_taken;

    con_printf("[6] udiv 7/0 without CCR.DIV_0_TRP: result %u, no fault\n",
               (unsigned)fault_udiv(7, 0));
    con_puts("[7] udiv 7/0 with CCR.DIV_0_TRP\n");
    SCB->ccr |= CCR_DIV_0_TRP;
    cpu_isb();
    expect_fault_at(fault_udiv_pc, 0);
    fault_udiv(7, 0);
    SCB->ccr &= ~CCR_DIV_0_TRP;
    faults_seen(before, 1);
}

static void case_unaligned(void)
{
    static const uint32_t words[2] = { 0x44332211u, 0x88776655u };
    uint32_t odd = (uint32_t)words + 1;
    unsigned before = faults_taken;

    /* ARMv7-M supports unaligned LDR (little-endian: bytes 1-4). */
    con_printf("[8] unaligned ldr without CCR.UNALIGN_TRP: 0x%08x, no fault\n",
               (unsigned)fault_load(odd));
    con_puts("[9] unaligned ldr with CCR.UNALIGN_TRP\n");
    SCB->ccr |= CCR_UNALIGN_TRP;
    cpu_isb();
    expect_fault_at(fault_load_pc, 0);
    fault_load(odd);
    SCB->ccr &= ~CCR_UNALIGN_TRP;
    faults_seen(before, 1);
}

static void case_bad_branch(void)
{
    uint32_t arm_state_target = (uint32_t)fault_target & ~1u;
    unsigned before = faults_taken;

    /* Bit 0 of a BLX target selects Thumb state, the only state an M
     * profile core has: with it clear, the first instruction faults. */
    con_puts("[10] blx to an address with bit 0 clear (ARM state)\n");
    expect_fault_at((const void *)arm_state_target, 1);
    fault_call(arm_state_target);

    con_printf("[11] blx to 0x%08x (System region, execute-never) with MemManage enabled\n",
               XN_ADDR);
    SCB->shcsr |= SHCSR_MEMFAULTENA;
    expect_fault_at((const void *)XN_ADDR, 1);
    fault_call(XN_ADDR | 1);
    faults_seen(before, 2);
}

int main(void)
{
    con_puts("faults: fault status reporting and recovery\n");
    case_undefined();
    case_bus_error();
    case_divide();
    case_unaligned();
    case_bad_branch();
    con_printf("faults: %u faults taken and recovered\n", faults_taken);
    con_puts("faults: done\n");
    return 0;
}
