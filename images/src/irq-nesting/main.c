/*
 * irq-nesting: NVIC prioritisation on a Cortex-M3 (MPS2 AN385).
 *
 * Exercises preemption across three nesting levels driven by real timers
 * (CMSDK timer0/timer1, dual timer, SysTick), priority grouping (PRIGROUP),
 * tail-chaining, PRIMASK and BASEPRI masking, software triggering through
 * NVIC STIR, ISPR and ICSR.PENDSVSET, and the ICSR VECTACTIVE, VECTPENDING
 * and RETTOBASE fields.
 *
 * Timers run in real time under QEMU, so nothing printed may depend on when
 * an interrupt arrives. Every step is a handshake instead: a handler starts
 * the next timer and busy-waits on a flag that only the higher-priority
 * handler sets, so the order of events, and every number printed, is fixed
 * by design. All priorities are multiples of 0x20 (see PRIO in board.h).
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "runtime.h"

/* Software-triggered interrupts: lines that no device on the board drives. */
#define IRQ_SOFT_A 28
#define IRQ_SOFT_B 29
#define IRQ_SOFT_C 30
#define IRQ_SOFT_D 31

/* Timer delay in 25 MHz ticks (80 us). Its length does not matter for the
 * output: a handler prints before starting the next timer and only prints
 * again once that timer's handler has run. */
#define TIMER_DELAY 2000u

static volatile unsigned depth;         /* handlers currently active */
static volatile uint32_t done;          /* bit n: handler for IRQ n finished */
static volatile unsigned systick_calls;
static volatile unsigned pendsv_calls;

/* Which scenario is running: SysTick, PendSV and the software-triggered
 * handlers serve several scenarios and act on it. */
static volatile enum {
    PHASE_PREEMPT,
    PHASE_GROUPING,
    PHASE_TAILCHAIN,
    PHASE_BASEPRI,
    PHASE_SYSTICK_IN_PENDSV,
    PHASE_PENDSV_FROM_SYSTICK,
} phase;

/* Order in which handlers ran in the tail-chaining scenario. */
static volatile unsigned order[4];
static volatile unsigned order_len;

static void indent(void)
{
    for (unsigned i = 0; i < depth; i++)
        con_puts("  ");
}

/*
 * One line per handler entry: who we are, and where ICSR says we are.
 * VECTPENDING is shown only in the tail-chaining scenario: elsewhere it
 * could name an exception masked by BASEPRI, which QEMU reports but the
 * Cortex-M3/M4 documentation says is excluded.
 */
static void report_entry(const char *name)
{
    uint32_t icsr = SCB->icsr;

    indent();
    con_printf("%s: VECTACTIVE=%u RETTOBASE=%u", name,
               (unsigned)(icsr & ICSR_VECTACTIVE_MASK), (icsr & ICSR_RETTOBASE) ? 1u : 0u);
    if (phase == PHASE_TAILCHAIN)
        con_printf(" VECTPENDING=%u",
                   (unsigned)((icsr & ICSR_VECTPENDING_MASK) >> ICSR_VECTPENDING_SHIFT));
    con_puts("\n");
}

static void wait_done(unsigned irq)
{
    while (!(done & (1u << irq)))
        ;
}

static void stir(unsigned irq)
{
    NVIC_STIR = irq;
    cpu_barrier();
}

static void timer_start(struct cmsdk_timer *t, uint32_t ticks)
{
    t->ctrl = 0;
    t->intstatus = TIMER_INT;
    t->reload = ticks;
    t->value = ticks;
    t->ctrl = TIMER_CTRL_ENABLE | TIMER_CTRL_IRQ_EN;
}

/* The CMSDK timer interrupt is a level: clear it before returning, and stop
 * the timer so it cannot fire again. */
static void timer_ack(struct cmsdk_timer *t)
{
    t->ctrl = 0;
    t->intstatus = TIMER_INT;
}

static void dualtimer_start_oneshot(uint32_t ticks)
{
    struct cmsdk_dualtimer_channel *c = &DUALTIMER->ch[0];

    c->control = 0;
    c->intclr = 1;
    c->load = ticks;
    c->control = DUALTIMER_CTRL_ENABLE | DUALTIMER_CTRL_ONESHOT |
                 DUALTIMER_CTRL_SIZE32 | DUALTIMER_CTRL_INTEN;
}

/* ---- scenario 1: three-level preemption ------------------------------- */

void IRQ9_Handler(void)   /* timer1, lowest of the three */
{
    depth++;
    timer_ack(TIMER1);
    report_entry("timer1 IRQ9");
    indent();
    con_puts("timer1: starting timer0, busy-waiting for it\n");
    timer_start(TIMER0, TIMER_DELAY);
    wait_done(IRQ_TIMER0);
    indent();
    con_printf("timer1: resumed, VECTACTIVE=%u\n", (unsigned)(SCB->icsr & ICSR_VECTACTIVE_MASK));
    done |= 1u << IRQ_TIMER1;
    depth--;
}

void IRQ8_Handler(void)   /* timer0, middle */
{
    depth++;
    timer_ack(TIMER0);
    report_entry("timer0 IRQ8");
    indent();
    con_puts("timer0: starting dual timer, busy-waiting for it\n");
    dualtimer_start_oneshot(TIMER_DELAY);
    wait_done(IRQ_DUALTIMER);
    indent();
    con_printf("timer0: resumed, VECTACTIVE=%u\n", (unsigned)(SCB->icsr & ICSR_VECTACTIVE_MASK));
    done |= 1u << IRQ_TIMER0;
    depth--;
}

void IRQ10_Handler(void)  /* dual timer, highest */
{
    depth++;
    DUALTIMER->ch[0].intclr = 1;
    DUALTIMER->ch[0].control = 0;
    report_entry("dualtimer IRQ10");
    indent();
    con_printf("dualtimer: NVIC IABR0=0x%08x (IRQs 8, 9, 10 active)\n", (unsigned)NVIC->iabr[0]);
    done |= 1u << IRQ_DUALTIMER;
    depth--;
}

static void scenario_preemption(void)
{
    con_puts("[1] preemption, PRIGROUP=5: timer1 0xC0 < timer0 0x80 < dualtimer 0x40\n");
    nvic_set_prigroup(5);
    nvic_set_priority(IRQ_TIMER1, PRIO(6));
    nvic_set_priority(IRQ_TIMER0, PRIO(4));
    nvic_set_priority(IRQ_DUALTIMER, PRIO(2));
    nvic_enable(IRQ_TIMER1);
    nvic_enable(IRQ_TIMER0);
    nvic_enable(IRQ_DUALTIMER);

    phase = PHASE_PREEMPT;
    timer_start(TIMER1, TIMER_DELAY);
    wait_done(IRQ_TIMER1);
    con_printf("back in thread: VECTACTIVE=%u IABR0=0x%08x\n",
               (unsigned)(SCB->icsr & ICSR_VECTACTIVE_MASK), (unsigned)NVIC->iabr[0]);
}

/* ---- software-triggered interrupts (scenarios 2-4) --------------------- */

static void soft_irq(unsigned irq)
{
    static const char *const names[] = { "IRQ28", "IRQ29", "IRQ30", "IRQ31" };

    depth++;
    report_entry(names[irq - IRQ_SOFT_A]);
    if (phase == PHASE_TAILCHAIN)
        order[order_len++] = EXC_IRQ0 + irq;

    /* In the grouping scenario IRQ31 triggers IRQ30 from inside its handler
     * and looks at whether it preempted straight away. */
    if (phase == PHASE_GROUPING && irq == IRQ_SOFT_D) {
        stir(IRQ_SOFT_C);
        indent();
        con_printf("IRQ31: after STIR 30: IRQ30 pending=%u, already ran=%s\n",
                   (unsigned)nvic_is_pending(IRQ_SOFT_C),
                   (done & (1u << IRQ_SOFT_C)) ? "yes" : "no");
    }
    done |= 1u << irq;
    depth--;
}

void IRQ28_Handler(void) { soft_irq(IRQ_SOFT_A); }
void IRQ29_Handler(void) { soft_irq(IRQ_SOFT_B); }
void IRQ30_Handler(void) { soft_irq(IRQ_SOFT_C); }
void IRQ31_Handler(void) { soft_irq(IRQ_SOFT_D); }

static void enable_soft_irqs(void)
{
    for (unsigned irq = IRQ_SOFT_A; irq <= IRQ_SOFT_D; irq++)
        nvic_enable(irq);
}

/*
 * Scenario 2: IRQ31 (0x60) triggers IRQ30 (0x40). PRIGROUP=5 makes the group
 * priority bits [7:6], so both are group 1 and IRQ30 must wait for IRQ31 to
 * return (then it is tail-chained). With PRIGROUP=0 bits [7:1] are the group
 * priority, 0x40 beats 0x60 and IRQ30 preempts at once.
 */
static void scenario_grouping(void)
{
    phase = PHASE_GROUPING;
    nvic_set_priority(IRQ_SOFT_D, PRIO(3));
    nvic_set_priority(IRQ_SOFT_C, PRIO(2));

    static const unsigned prigroups[] = { 5, 0 };
    for (unsigned i = 0; i < 2; i++) {
        nvic_set_prigroup(prigroups[i]);
        con_printf("[2%c] PRIGROUP=%u: IRQ31 prio 0x60 triggers IRQ30 prio 0x40 via STIR\n",
                   'a' + i, prigroups[i]);
        done = 0;
        stir(IRQ_SOFT_D);
        con_printf("back in thread: IRQ30 ran=%s IRQ31 ran=%s\n",
                   (done & (1u << IRQ_SOFT_C)) ? "yes" : "no",
                   (done & (1u << IRQ_SOFT_D)) ? "yes" : "no");
    }
    nvic_set_prigroup(5);
}

/* ---- scenario 3: pending under PRIMASK, then tail-chaining ------------- */

void PendSV_Handler(void)
{
    depth++;
    pendsv_calls++;
    report_entry("PendSV");
    if (phase == PHASE_TAILCHAIN) {
        order[order_len++] = EXC_PENDSV;
    } else if (phase == PHASE_SYSTICK_IN_PENDSV) {
        /* Lowest priority, so every SysTick preempts this busy-wait. */
        indent();
        con_puts("PendSV: starting SysTick, busy-waiting for 3 SysTick handlers\n");
        SYSTICK->val = 0;
        SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;
        while (systick_calls < 3)
            ;
        indent();
        con_printf("PendSV: resumed after %u SysTick handlers\n", systick_calls);
    }
    depth--;
}

/*
 * Three exceptions are pended while PRIMASK=1: IRQ29 at 0xE0, PendSV at 0xE0
 * and IRQ28 at 0x60. When PRIMASK is cleared they run back to back without
 * returning to the thread: IRQ28 first (highest priority), then PendSV
 * before IRQ29 (equal priority: lower exception number wins).
 */
static void scenario_tailchain(void)
{
    phase = PHASE_TAILCHAIN;
    con_puts("[3] PRIMASK=1; pend IRQ29 (0xE0, ISPR), PendSV (0xE0, ICSR), IRQ28 (0x60, STIR)\n");
    nvic_set_priority(IRQ_SOFT_B, PRIO(7));
    SCB_SHPR(EXC_PENDSV) = PRIO(7);
    nvic_set_priority(IRQ_SOFT_A, PRIO(3));
    done = 0;
    order_len = 0;

    cpu_irq_disable();
    nvic_set_pending(IRQ_SOFT_B);
    SCB->icsr = ICSR_PENDSVSET;
    stir(IRQ_SOFT_A);
    uint32_t icsr = SCB->icsr;
    con_printf("masked: ISPR0=0x%08x ISRPENDING=%u PENDSVSET=%u VECTPENDING=%u, handlers run: %u\n",
               (unsigned)NVIC->ispr[0], (icsr & ICSR_ISRPENDING) ? 1u : 0u,
               (icsr & ICSR_PENDSVSET) ? 1u : 0u,
               (unsigned)((icsr & ICSR_VECTPENDING_MASK) >> ICSR_VECTPENDING_SHIFT),
               order_len);
    cpu_irq_enable();
    cpu_isb();
    con_printf("unmasked: %u handlers ran before the thread resumed, order:", order_len);
    for (unsigned i = 0; i < order_len; i++)
        con_printf(" %u", order[i]);
    con_puts("\n");
}

/* ---- scenario 4: BASEPRI ---------------------------------------------- */

static void scenario_basepri(void)
{
    phase = PHASE_BASEPRI;
    con_puts("[4] BASEPRI=0x80: IRQ31 prio 0xA0 is masked, IRQ30 prio 0x40 is not\n");
    nvic_set_priority(IRQ_SOFT_D, PRIO(5));
    nvic_set_priority(IRQ_SOFT_C, PRIO(2));
    done = 0;

    set_basepri(0x80);
    cpu_isb();
    stir(IRQ_SOFT_D);
    stir(IRQ_SOFT_C);
    con_printf("IRQ30 ran=%s, IRQ31 ran=%s pending=%u\n",
               (done & (1u << IRQ_SOFT_C)) ? "yes" : "no",
               (done & (1u << IRQ_SOFT_D)) ? "yes" : "no",
               (unsigned)nvic_is_pending(IRQ_SOFT_D));

    /* BASEPRI_MAX only ever raises the masking level (lowers the value). */
    set_basepri_max(0xC0);
    con_printf("BASEPRI_MAX=0xC0 -> BASEPRI=0x%02x (ignored: would unmask)\n",
               (unsigned)get_basepri());
    set_basepri_max(0x40);
    con_printf("BASEPRI_MAX=0x40 -> BASEPRI=0x%02x\n", (unsigned)get_basepri());

    set_basepri(0);
    cpu_isb();
    con_printf("BASEPRI=0: IRQ31 ran=%s\n", (done & (1u << IRQ_SOFT_D)) ? "yes" : "no");
}

/* ---- scenarios 5 and 6: SysTick and PendSV ----------------------------- */

static void systick_stop(void)
{
    SYSTICK->ctrl = 0;
    SCB->icsr = ICSR_PENDSTCLR;   /* a tick may have pended meanwhile */
}

void SysTick_Handler(void)
{
    depth++;
    systick_calls++;
    /* Stop the tick before the (slow) console output, so that the number of
     * SysTick handlers never depends on how long printing takes. */
    if (phase == PHASE_PENDSV_FROM_SYSTICK ||
        (phase == PHASE_SYSTICK_IN_PENDSV && systick_calls == 3))
        systick_stop();
    report_entry("SysTick");
    if (phase == PHASE_PENDSV_FROM_SYSTICK) {
        /* The RTOS pattern: the tick asks for a context switch, which runs
         * at the lowest priority once every other handler has finished. */
        SCB->icsr = ICSR_PENDSVSET;
        cpu_barrier();
        indent();
        con_printf("SysTick: set PENDSVSET, PendSV pending=%u ran=%s\n",
                   (SCB->icsr & ICSR_PENDSVSET) ? 1u : 0u, pendsv_calls ? "yes" : "no");
    }
    depth--;
}

static void scenario_systick(void)
{
    SCB_SHPR(EXC_SYSTICK) = PRIO(0);
    SCB_SHPR(EXC_PENDSV) = PRIO(7);
    SYSTICK->load = SYSCLK_HZ / 1000 - 1;   /* 1 ms on the core clock */

    phase = PHASE_SYSTICK_IN_PENDSV;
    con_puts("[5] PENDSVSET from thread; SysTick (0x00) preempts PendSV (0xE0)\n");
    systick_calls = 0;
    SCB->icsr = ICSR_PENDSVSET;
    cpu_barrier();

    phase = PHASE_PENDSV_FROM_SYSTICK;
    con_puts("[6] SysTick sets PENDSVSET; PendSV is tail-chained after SysTick\n");
    systick_calls = 0;
    pendsv_calls = 0;
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;
    while (pendsv_calls == 0)
        ;
    con_printf("back in thread: SysTick handlers=%u PendSV handlers=%u\n",
               systick_calls, pendsv_calls);
}

int main(void)
{
    con_puts("irq-nesting: NVIC preemption, grouping, tail-chaining and masking\n");
    scenario_preemption();
    enable_soft_irqs();
    scenario_grouping();
    scenario_tailchain();
    scenario_basepri();
    scenario_systick();
    con_puts("irq-nesting: done\n");
    return 0;
}
