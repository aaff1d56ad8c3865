/*
 * context-switch: a miniature preemptive scheduler on a Cortex-M3 (AN385).
 *
 * Three threads run on the process stack (PSP); main() runs on the main
 * stack and gets the CPU back when all threads have exited. Switches happen
 * in PendSV (see switch.S), which is pended three ways: by a privileged
 * thread writing ICSR.PENDSVSET, by an unprivileged thread through
 * "svc #0", and by SysTick when it preempts a spinning thread.
 *
 *   A  privileged, yields by writing ICSR itself
 *   B  unprivileged (CONTROL.nPRIV=1): prints and yields through SVC calls
 *   C  privileged, never yields, and runs with SP = 4 (mod 8) so that every
 *      exception taken from it pushes a padded frame with xPSR bit 9 set
 *
 * A token passed A -> B -> C -> A fixes the order of the printed lines no
 * matter when SysTick fires (QEMU's SysTick runs in host time): a thread
 * whose turn it is not spins in wait_turn(), which also checks that its
 * registers survive every preemption.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "runtime.h"

#define STEPS 3
#define STACK_WORDS 256

enum svc_number {
    SVC_YIELD = 0,        /* pend a context switch */
    SVC_LOG_STEP = 1,     /* r0 = step, r1 = caller's CONTROL: print a line */
    SVC_FRAME_XPSR = 2,   /* returns the xPSR stacked for this very call */
    SVC_EXIT = 3,         /* the calling thread is finished */
};

struct thread {
    uint32_t sp;          /* saved PSP: r4-r11, then the hardware frame (asm: offset 0) */
    uint32_t control;     /* CONTROL while the thread runs (asm: offset 4) */
    const char *name;
    int alive;
    unsigned reg_errors;  /* registers wait_turn() found changed */
    unsigned frames;      /* exception frames pushed on its stack (at switches) */
    unsigned padded;      /* ... of which had xPSR bit 9 set */
};

enum { THREAD_A, THREAD_B, THREAD_C, NTHREADS };

static struct thread threads[NTHREADS];
struct thread *sched_current;  /* NULL while main() runs; used by switch.S */

static volatile unsigned turn;
static volatile unsigned tick_switches;   /* PendSVs requested by SysTick */
static volatile unsigned svc_yields;

static uint64_t stacks[NTHREADS][STACK_WORDS / 2];  /* uint64_t: 8-byte aligned */

/* switch.S */
void sched_run(void);
unsigned wait_turn(volatile unsigned *turn, unsigned me, unsigned seed);
/* called from switch.S */
struct thread *sched_pick(void);
void svc_dispatch(uint32_t *frame);

#define SVC(n) __asm volatile("svc %0" ::"i"(n) : "memory")

static void yield_by_icsr(void)
{
    SCB->icsr = ICSR_PENDSVSET;
    cpu_barrier();
}

static uint32_t svc_frame_xpsr(void)
{
    register uint32_t r0 __asm("r0");
    __asm volatile("svc %1" : "=r"(r0) : "i"(SVC_FRAME_XPSR) : "memory");
    return r0;
}

/* ---- the threads -------------------------------------------------------- */

static void thread_a(void)
{
    for (unsigned step = 0; step < STEPS; step++) {
        threads[THREAD_A].reg_errors += wait_turn(&turn, THREAD_A, 0xA0000000u + step);
        con_printf("A: step %u, CONTROL=0x%x, svc frame xPSR[9]=%u\n", step,
                   (unsigned)get_control(), (unsigned)((svc_frame_xpsr() >> 9) & 1));
        turn = THREAD_B;
        yield_by_icsr();
    }
}

static void thread_b(void)
{
    for (unsigned step = 0; step < STEPS; step++) {
        threads[THREAD_B].reg_errors += wait_turn(&turn, THREAD_B, 0xB0000000u + step);
        /* Unprivileged: may read CONTROL, but may not write ICSR. */
        register uint32_t r0 __asm("r0") = step;
        register uint32_t r1 __asm("r1") = get_control();
        __asm volatile("svc %2" ::"r"(r0), "r"(r1), "i"(SVC_LOG_STEP) : "memory");
        turn = THREAD_C;
        SVC(SVC_YIELD);
    }
}

static void thread_c(void)
{
    for (unsigned step = 0; step < STEPS; step++) {
        threads[THREAD_C].reg_errors += wait_turn(&turn, THREAD_C, 0xC0000000u + step);
        con_printf("C: step %u, CONTROL=0x%x, sp%%8=%u, svc frame xPSR[9]=%u\n", step,
                   (unsigned)get_control(), (unsigned)(get_sp() & 7),
                   (unsigned)((svc_frame_xpsr() >> 9) & 1));
        /* No yield: A can only run again once SysTick preempts our spin. */
        turn = THREAD_A;
    }
}

/* Where a thread function returns to (its initial LR). */
static void thread_exit(void)
{
    SVC(SVC_EXIT);
    for (;;)
        ;   /* not reached: the exit switches away for good */
}

/*
 * Build the stack a thread starts from, as if it had been preempted just
 * before its first instruction: a hardware frame for the exception return,
 * and below it the r4-r11 that PendSV pops. For C the frame's xPSR bit 9 is
 * set, so the exception return adds 4 to SP and C starts at 4 (mod 8).
 */
static void thread_init(unsigned id, const char *name, void (*entry)(void),
                        uint32_t control, int misalign)
{
    struct thread *t = &threads[id];
    uint32_t *top = (uint32_t *)&stacks[id][STACK_WORDS / 2];
    uint32_t *frame = top - FRAME_WORDS - (misalign ? 2 : 0);

    for (unsigned i = 0; i < FRAME_WORDS; i++)
        frame[i] = 0;
    frame[FRAME_LR] = (uint32_t)thread_exit;
    frame[FRAME_PC] = (uint32_t)entry & ~1u;   /* stacked PC: no Thumb bit */
    frame[FRAME_XPSR] = XPSR_T | (misalign ? XPSR_FRAME_ALIGN : 0);

    uint32_t *regs = frame - 8;
    for (unsigned i = 0; i < 8; i++)
        regs[i] = 0;

    t->sp = (uint32_t)regs;
    t->control = control;
    t->name = name;
    t->alive = 1;
}

/* ---- scheduler (called from PendSV and SVC) ------------------------------ */

/* Round-robin over live threads; NULL (back to main) when none is left. */
struct thread *sched_pick(void)
{
    struct thread *cur = sched_current;

    if (cur) {
        const uint32_t *frame = (const uint32_t *)cur->sp + 8;
        cur->frames++;
        if (frame[FRAME_XPSR] & XPSR_FRAME_ALIGN)
            cur->padded++;
    }

    unsigned start = cur ? (unsigned)(cur - threads) + 1 : 0;
    for (unsigned i = 0; i < NTHREADS; i++) {
        struct thread *t = &threads[(start + i) % NTHREADS];
        if (t->alive) {
            sched_current = t;
            return t;
        }
    }
    sched_current = 0;
    return 0;
}

void svc_dispatch(uint32_t *frame)
{
    /* The stacked PC is the return address: the SVC is the halfword before. */
    const uint16_t *pc = (const uint16_t *)frame[FRAME_PC];
    unsigned number = pc[-1] & 0xFF;

    switch (number) {
    case SVC_YIELD:
        svc_yields++;
        SCB->icsr = ICSR_PENDSVSET;
        break;
    case SVC_LOG_STEP:
        con_printf("%s: step %u, CONTROL=0x%x (printed by svc #%u)\n",
                   sched_current->name, (unsigned)frame[FRAME_R0],
                   (unsigned)frame[FRAME_R1], number);
        break;
    case SVC_FRAME_XPSR:
        frame[FRAME_R0] = frame[FRAME_XPSR];
        break;
    case SVC_EXIT:
        sched_current->alive = 0;
        SCB->icsr = ICSR_PENDSVSET;
        break;
    default:
        con_printf("unknown svc #%u\n", number);
        break;
    }
}

/* Preempt threads only: main() must not be switched away from before
 * sched_run() has saved its registers, nor after the threads are done. */
void SysTick_Handler(void)
{
    if (sched_current) {
        tick_switches++;
        SCB->icsr = ICSR_PENDSVSET;
    }
}

int main(void)
{
    con_puts("context-switch: 3 threads on PSP, PendSV switches from ICSR, SVC and SysTick\n");

    /* SVC above SysTick above PendSV: a switch only ever happens once every
     * other handler has finished, which is what keeps PendSV simple. */
    SCB_SHPR(EXC_SVCALL) = PRIO(0);
    SCB_SHPR(EXC_SYSTICK) = PRIO(2);
    SCB_SHPR(EXC_PENDSV) = PRIO(7);
    con_printf("CCR.STKALIGN=%u\n", (SCB->ccr & CCR_STKALIGN) ? 1u : 0u);

    thread_init(THREAD_A, "A", thread_a, CONTROL_SPSEL, 0);
    thread_init(THREAD_B, "B", thread_b, CONTROL_SPSEL | CONTROL_NPRIV, 0);
    thread_init(THREAD_C, "C", thread_c, CONTROL_SPSEL, 1);
    turn = THREAD_A;

    SYSTICK->load = SYSCLK_HZ / 1000 - 1;   /* 1 ms time slice */
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;

    sched_run();

    SYSTICK->ctrl = 0;
    con_printf("main: back on MSP, CONTROL=0x%x\n", (unsigned)get_control());
    con_printf("yields through svc #0: %u\n", svc_yields);
    con_printf("SysTick-driven switches: %s\n",
               tick_switches >= STEPS - 1 ? "at least one per round" : "TOO FEW");
    for (unsigned i = 0; i < NTHREADS; i++) {
        const struct thread *t = &threads[i];
        con_printf("%s: registers corrupted: %u, switch frames with xPSR[9] set: %s\n",
                   t->name, t->reg_errors,
                   t->padded == 0 ? "none" : t->padded == t->frames ? "all" : "SOME");
    }
    con_puts("context-switch: done\n");
    return 0;
}
