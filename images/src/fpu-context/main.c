/*
 * fpu-context: floating-point context handling on a Cortex-M4F (AN386).
 *
 * Part 1 reads the FPU control state: CPACR (set by the reset handler),
 *        FPCCR, and CONTROL.FPCA before and after the first FP instruction.
 * Part 2 interrupts main() while S0-S31 and FPSCR hold known values; the
 *        handler uses the FPU too. Three variants: lazy stacking (default),
 *        eager stacking (LSPEN=0), and no FP context (FPCA cleared first).
 *        The handler reports EXC_RETURN, FPCCR.LSPACT, FPCAR, CONTROL.FPCA
 *        and what the extended frame holds; main() checks what survived.
 * Part 3 runs two FP threads under a PendSV scheduler that saves S16-S31
 *        in software, as an RTOS does (see fpu.S), preempted by SysTick
 *        while their FP registers are live.
 *
 * Like context-switch, the threads pass a token, so no output depends on
 * when SysTick fires.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "runtime.h"

#define IRQ_FP_TEST 30
#define STEPS 3

#define FPSCR_RMODE_SHIFT 22
#define FPSCR_RMODE_MASK  (3u << FPSCR_RMODE_SHIFT)
#define FPSCR_RMODE_RP    (1u << FPSCR_RMODE_SHIFT)   /* round towards +infinity */
#define FPSCR_RMODE_RZ    (3u << FPSCR_RMODE_SHIFT)   /* round towards zero */

/* fpu.S */
void fp_irq_roundtrip(const uint32_t in[33], uint32_t out[34], unsigned irq, int clear_fpca);
uint32_t fp_clobber_low(const uint32_t vals[16]);
void sched_run(void);
void fp_wait_turn(const uint32_t in[33], uint32_t out[33], volatile unsigned *turn, unsigned me);
/* called from fpu.S */
void fp_irq_body(uint32_t exc_return, const uint32_t *frame, uint32_t fpccr, uint32_t control);
struct fp_thread *sched_pick(void);

static uint32_t float_bits(float f)
{
    union { float f; uint32_t u; } v = { .f = f };
    return v.u;
}

/* 32 register patterns plus an FPSCR value. */
static void make_patterns(uint32_t p[33], uint32_t seed, uint32_t fpscr)
{
    for (unsigned i = 0; i < 32; i++)
        p[i] = seed ^ (i * 0x01010101u) ^ 0x3F800000u;
    p[32] = fpscr;
}

static unsigned count_diffs(const uint32_t *a, const uint32_t *b, unsigned n)
{
    unsigned d = 0;
    for (unsigned i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

static const char *yes_no(int b) { return b ? "yes" : "no"; }

/* ---- part 2: an FP-using interrupt handler ------------------------------ */

/* The thread-side values and what the handler observed. */
static uint32_t thread_in[33];
static const uint32_t handler_vals[16] = {
    0xDEAD0000, 0xDEAD0001, 0xDEAD0002, 0xDEAD0003, 0xDEAD0004, 0xDEAD0005,
    0xDEAD0006, 0xDEAD0007, 0xDEAD0008, 0xDEAD0009, 0xDEAD000A, 0xDEAD000B,
    0xDEAD000C, 0xDEAD000D, 0xDEAD000E, 0xDEAD000F,
};
static volatile float third_num = 1.0f, third_den = 3.0f;

static struct {
    uint32_t exc_return;
    uint32_t fpccr_entry, control_entry;
    int fpcar_ok;          /* FPCAR points at the S0 slot of this frame */
    int frame_ok_entry;    /* frame held the thread's S0-S15/FPSCR on entry */
    uint32_t fpscr;        /* FPSCR the handler runs with */
    uint32_t control_after, fpccr_after;
    int frame_ok_after;
    uint32_t third;        /* 1.0f / 3.0f computed in the handler */
} seen;

/* Extended frame: R0-R3, R12, LR, PC, xPSR, then S0-S15, FPSCR (word 24). */
static int frame_holds_thread_fp(const uint32_t *frame)
{
    return count_diffs(frame + 8, thread_in, 16) == 0 && frame[24] == thread_in[32];
}

/* Tail-called from IRQ30_Handler (fpu.S) with the state it captured. */
void fp_irq_body(uint32_t exc_return, const uint32_t *frame, uint32_t fpccr, uint32_t control)
{
    int extended = !(exc_return & EXC_RETURN_STD_FRAME);

    seen.exc_return = exc_return;
    seen.fpccr_entry = fpccr;
    seen.control_entry = control;
    seen.fpcar_ok = extended && FPU->fpcar == (uint32_t)(frame + 8);
    seen.frame_ok_entry = extended && frame_holds_thread_fp(frame);

    seen.fpscr = fp_clobber_low(handler_vals);
    seen.control_after = get_control();
    seen.fpccr_after = FPU->fpccr;
    seen.frame_ok_after = extended && frame_holds_thread_fp(frame);
    seen.third = float_bits(third_num / third_den);
}

static void fp_interrupt_case(const char *title, int clear_fpca)
{
    uint32_t out[34];

    con_printf("%s\n", title);
    make_patterns(thread_in, 0x11000000u, 0x60000011u | FPSCR_RMODE_RZ);
    fp_irq_roundtrip(thread_in, out, IRQ_FP_TEST, clear_fpca);

    int extended = !(seen.exc_return & EXC_RETURN_STD_FRAME);
    con_printf("  handler entry: EXC_RETURN=0x%08x (%s frame) CONTROL.FPCA=%u LSPACT=%u",
               (unsigned)seen.exc_return, extended ? "extended" : "basic",
               (unsigned)((seen.control_entry & CONTROL_FPCA) >> 2),
               (unsigned)(seen.fpccr_entry & FPCCR_LSPACT));
    if (extended)
        con_printf(" FPCAR=frame+0x20: %s", yes_no(seen.fpcar_ok));
    con_puts("\n");
    if (extended && !(seen.fpccr_entry & FPCCR_LSPACT))
        con_printf("  frame already holds thread S0-S15/FPSCR at entry: %s\n",
                   yes_no(seen.frame_ok_entry));
    /* Only the rounding mode of the handler's FPSCR is shown: the rest of
     * a new FP context's FPSCR is where implementations may differ (QEMU
     * copies all of FPDSCR, clearing the thread's flags). */
    con_printf("  after handler's first FP instruction: CONTROL.FPCA=%u LSPACT=%u FPSCR.RMode=%u\n",
               (unsigned)((seen.control_after & CONTROL_FPCA) >> 2),
               (unsigned)(seen.fpccr_after & FPCCR_LSPACT),
               (unsigned)((seen.fpscr & FPSCR_RMODE_MASK) >> FPSCR_RMODE_SHIFT));
    if (extended)
        con_printf("  frame holds thread S0-S15/FPSCR: %s\n", yes_no(seen.frame_ok_after));
    con_printf("  handler 1.0f/3.0f = 0x%08x\n", (unsigned)seen.third);
    con_printf("  back in thread: CONTROL.FPCA=%u, S0-S15 kept: %s, S16-S31 kept: %s, FPSCR kept: %s\n",
               (unsigned)((out[33] & CONTROL_FPCA) >> 2),
               yes_no(count_diffs(out, thread_in, 16) == 0),
               yes_no(count_diffs(out + 16, thread_in + 16, 16) == 0),
               yes_no(out[32] == thread_in[32]));
}

/* ---- part 3: FP threads ------------------------------------------------- */

struct fp_thread {
    uint32_t sp;              /* saved PSP (asm: offset 0) */
    const char *name;
    /* Written by the thread just before it pends PendSV, read in PendSV:
     * volatile, so the write cannot sink past the ICSR store. */
    volatile int alive;
    volatile int yielding;    /* set by yield(), consumed by sched_pick() */
    uint32_t yield_exc_return;/* EXC_RETURN when it last yielded */
    unsigned fp_errors;       /* registers or FPSCR changed across a spin */
};

enum { THREAD_X, THREAD_Y, NTHREADS };

static struct fp_thread threads[NTHREADS];
struct fp_thread *sched_current;         /* NULL while main() runs (fpu.S) */
uint32_t sched_main_exc_return;          /* main()'s EXC_RETURN (fpu.S) */
static volatile unsigned turn;
static uint64_t stacks[NTHREADS][128];   /* uint64_t: 8-byte aligned */

/*
 * Give up the CPU. The EXC_RETURN of this switch-out is recorded: unlike
 * that of a SysTick preemption, it is taken at a fixed point in the
 * thread. (If SysTick gets in first, between setting the flag and the
 * PENDSVSET, its switch-out is recorded instead, with the same FP state.)
 */
static void yield(struct fp_thread *t)
{
    t->yielding = 1;
    SCB->icsr = ICSR_PENDSVSET;
    cpu_barrier();
}

/* Spin until our turn with S0-S31/FPSCR live, and count what changed. */
static void spin_with_fp(struct fp_thread *t, unsigned me, uint32_t seed, uint32_t fpscr)
{
    uint32_t in[33], out[33];

    make_patterns(in, seed, fpscr);
    fp_wait_turn(in, out, &turn, me);
    t->fp_errors += count_diffs(in, out, 33);
}

/* X: privileged, rounds towards +infinity, yields after each step. */
static void thread_x(void)
{
    struct fp_thread *t = &threads[THREAD_X];

    for (unsigned step = 0; step < STEPS; step++) {
        spin_with_fp(t, THREAD_X, 0x58000000u + step, FPSCR_RMODE_RP);
        /* Newton's method for sqrt(2 + step), in this thread's rounding mode. */
        float a = 2.0f + (float)step, x = a;
        for (int i = 0; i < 8; i++)
            x = 0.5f * (x + a / x);
        con_printf("X: step %u: sqrt(%u) = 0x%08x, 1/3 = 0x%08x (round up)\n", step,
                   2 + step, (unsigned)float_bits(x),
                   (unsigned)float_bits(third_num / third_den));
        turn = THREAD_Y;
        yield(t);
    }
}

/*
 * Y: rounds towards zero and does not yield while it runs its steps, so
 * only SysTick switches it out, in the middle of fp_wait_turn() with its FP
 * registers live. Around the steps it yields once before it has touched
 * the FPU (basic frame) and once after (extended frame).
 */
__attribute__((noinline)) static void thread_y_fp(struct fp_thread *t)
{
    for (unsigned step = 0; step < STEPS; step++) {
        spin_with_fp(t, THREAD_Y, 0x59000000u + step, FPSCR_RMODE_RZ);
        float sum = 0.0f;
        for (unsigned k = 1; k <= 10 * (step + 1); k++)
            sum += 1.0f / (float)(k * k);
        con_printf("Y: step %u: sum 1/k^2, k<=%u = 0x%08x, 1/3 = 0x%08x (round to zero)\n",
                   step, 10 * (step + 1), (unsigned)float_bits(sum),
                   (unsigned)float_bits(third_num / third_den));
        turn = THREAD_X;
    }
}

static void thread_y(void)
{
    struct fp_thread *t = &threads[THREAD_Y];

    yield(t);
    con_printf("Y: before using the FPU: CONTROL.FPCA=%u, yielded with EXC_RETURN=0x%08x\n",
               (unsigned)((get_control() & CONTROL_FPCA) >> 2), (unsigned)t->yield_exc_return);
    thread_y_fp(t);
    yield(t);
    con_printf("Y: after using the FPU: CONTROL.FPCA=%u, yielded with EXC_RETURN=0x%08x\n",
               (unsigned)((get_control() & CONTROL_FPCA) >> 2), (unsigned)t->yield_exc_return);
}

static void thread_exit(void)
{
    struct fp_thread *t = sched_current;

    t->alive = 0;
    yield(t);
    for (;;)
        ;   /* not reached */
}

/* Initial stack: r4-r11 and EXC_RETURN for PendSV (fpu.S), then a basic
 * hardware frame. EXC_RETURN 0xFFFFFFFD: the thread starts with no FP state. */
static void thread_init(unsigned id, const char *name, void (*entry)(void))
{
    struct fp_thread *t = &threads[id];
    uint32_t *frame = (uint32_t *)&stacks[id][128] - FRAME_WORDS;

    for (unsigned i = 0; i < FRAME_WORDS; i++)
        frame[i] = 0;
    frame[FRAME_LR] = (uint32_t)thread_exit;
    frame[FRAME_PC] = (uint32_t)entry & ~1u;
    frame[FRAME_XPSR] = XPSR_T;

    uint32_t *saved = frame - 9;
    for (unsigned i = 0; i < 8; i++)
        saved[i] = 0;
    saved[8] = EXC_RETURN_THREAD_PSP;

    t->sp = (uint32_t)saved;
    t->name = name;
    t->alive = 1;
}

/* Called from PendSV: note how the outgoing thread left, pick the next. */
struct fp_thread *sched_pick(void)
{
    struct fp_thread *cur = sched_current;

    if (cur && cur->yielding) {
        cur->yield_exc_return = ((const uint32_t *)cur->sp)[8];
        cur->yielding = 0;
    }

    unsigned start = cur ? (unsigned)(cur - threads) + 1 : 0;
    for (unsigned i = 0; i < NTHREADS; i++) {
        struct fp_thread *t = &threads[(start + i) % NTHREADS];
        if (t->alive) {
            sched_current = t;
            return t;
        }
    }
    sched_current = 0;
    return 0;
}

/* Preempt threads only: main() must not be switched away from before
 * sched_run() has saved its registers. */
void SysTick_Handler(void)
{
    if (sched_current)
        SCB->icsr = ICSR_PENDSVSET;
}

static void fp_threads(void)
{
    con_puts("[3] two FP threads, PendSV saves S16-S31 in software, SysTick preempts\n");
    SCB_SHPR(EXC_SYSTICK) = PRIO(2);
    SCB_SHPR(EXC_PENDSV) = PRIO(7);
    thread_init(THREAD_X, "X", thread_x);
    thread_init(THREAD_Y, "Y", thread_y);
    turn = THREAD_X;

    SYSTICK->load = SYSCLK_HZ / 1000 - 1;
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;
    sched_run();
    SYSTICK->ctrl = 0;

    con_printf("main: resumed with EXC_RETURN=0x%08x\n", (unsigned)sched_main_exc_return);
    for (unsigned i = 0; i < NTHREADS; i++)
        con_printf("%s: FP registers or FPSCR changed across switches: %u\n",
                   threads[i].name, threads[i].fp_errors);
}

int main(void)
{
    con_puts("fpu-context: Cortex-M4F FP context preservation\n");

    /* Part 1. Nothing so far has executed an FP instruction. */
    con_printf("[1] CPACR=0x%08x FPCCR=0x%08x (ASPEN=%u LSPEN=%u) FPDSCR=0x%08x\n",
               (unsigned)SCB->cpacr, (unsigned)FPU->fpccr,
               (FPU->fpccr & FPCCR_ASPEN) ? 1u : 0u, (FPU->fpccr & FPCCR_LSPEN) ? 1u : 0u,
               (unsigned)FPU->fpdscr);
    con_printf("    CONTROL before the first FP instruction: 0x%x\n", (unsigned)get_control());
    __asm volatile("vmov.f32 s0, #1.0" ::: "s0");
    con_printf("    CONTROL after it: 0x%x\n", (unsigned)get_control());

    /* Part 2. */
    nvic_set_priority(IRQ_FP_TEST, PRIO(4));
    nvic_enable(IRQ_FP_TEST);
    fp_interrupt_case("[2a] IRQ during FP use, lazy stacking (LSPEN=1)", 0);
    FPU->fpccr &= ~FPCCR_LSPEN;
    fp_interrupt_case("[2b] IRQ during FP use, eager stacking (LSPEN=0)", 0);
    FPU->fpccr |= FPCCR_LSPEN;
    fp_interrupt_case("[2c] IRQ after the thread cleared CONTROL.FPCA (no FP context)", 1);
    nvic_disable(IRQ_FP_TEST);

    /* Part 3. */
    fp_threads();
    con_puts("fpu-context: done\n");
    return 0;
}
