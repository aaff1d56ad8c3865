/*
 * The network stack's millisecond clock, tickless, on the CMSDK dual
 * timer (as a low-power firmware uses a free-running RTC with a compare
 * register instead of a periodic tick):
 *
 *   - counter 1 runs free at the processor clock with no interrupt: the
 *     time base, read on demand (net_now_ms, net_now_cycles);
 *   - counter 2 is a one-shot alarm (IRQ 10), programmed only when the
 *     processor is about to sleep, for the next thing due.
 *
 * A device with nothing to do is therefore not woken every millisecond.
 * Under Ensemble the time is virtual, under QEMU host time, so nothing
 * printed may depend on its value; it only orders events (timeouts, the
 * announcement period).
 */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"
#include "net.h"
#include "net_internal.h"

/* Compiled for every board, but only boards with the dual timer (those
 * with the LAN9118) have the stack's clock. */
#ifdef DUALTIMER

#define TIME_BASE (&DUALTIMER->ch[0])
#define ALARM     (&DUALTIMER->ch[1])
#define CYCLES_PER_MS (SYSCLK_HZ / 1000u)
/* The 32-bit time base wraps every 171 s at 25 MHz; reading it at least
 * this often keeps the elapsed count unambiguous. */
#define MAX_SLEEP_MS 60000u

/* The time base as last read, and the time it stood for: whole ms since
 * net_clock_init and cycles into the current ms. Updated with PRIMASK set. */
static uint32_t last_count, now_ms, sub_cycles;
static int running;
/* The ms the alarm is set for, while it is counting (or has fired and
 * its interrupt is pending). */
static uint32_t alarm_ms;
static volatile int alarm_set;

void net_clock_init(void)
{
    /* net_init calls it again after an image started it early: keep time. */
    if (running)
        return;
    TIME_BASE->control = DUALTIMER_CTRL_SIZE32;
    TIME_BASE->load = 0xFFFFFFFFu;
    /* Free-running (PERIODIC clear), 32 bits, /1, no interrupt. */
    TIME_BASE->control = DUALTIMER_CTRL_ENABLE | DUALTIMER_CTRL_SIZE32;
    last_count = TIME_BASE->value;
    now_ms = sub_cycles = 0;

    ALARM->control = DUALTIMER_CTRL_SIZE32;
    ALARM->intclr = 1;
    alarm_set = 0;
    nvic_clear_pending(IRQ_DUALTIMER);
    nvic_enable(IRQ_DUALTIMER);
    running = 1;
}

/* Bring now_ms/sub_cycles up to the time base. PRIMASK must be set. */
static void clock_update(void)
{
    uint32_t count = TIME_BASE->value;
    /* A down-counter: what it lost since the last read, modulo 2^32. */
    sub_cycles += last_count - count;
    last_count = count;
    if (sub_cycles >= CYCLES_PER_MS) {
        now_ms += sub_cycles / CYCLES_PER_MS;
        sub_cycles %= CYCLES_PER_MS;
    }
}

uint32_t net_now_ms(void)
{
    uint32_t masked = get_primask();
    cpu_irq_disable();
    clock_update();
    uint32_t ms = now_ms;
    if (!masked)
        cpu_irq_enable();
    return ms;
}

uint64_t net_now_cycles(void)
{
    uint32_t masked = get_primask();
    cpu_irq_disable();
    clock_update();
    uint64_t c = (uint64_t)now_ms * CYCLES_PER_MS + sub_cycles;
    if (!masked)
        cpu_irq_enable();
    return c;
}

int net_clock_alarm(uint32_t t)
{
    clock_update();
    int32_t ahead = (int32_t)(t - now_ms);
    if (ahead <= 0)
        return 0;
    if ((uint32_t)ahead > MAX_SLEEP_MS) {
        ahead = MAX_SLEEP_MS;
        t = now_ms + MAX_SLEEP_MS;
    }
    /* Already counting down to that very millisecond: leave it be (most
     * wakes are frames, and the next thing due has not moved). */
    if (alarm_set && alarm_ms == t)
        return 1;
    /* Counted from the read above, so it fires a few cycles after the
     * millisecond starts, never before. */
    ALARM->control = DUALTIMER_CTRL_SIZE32;
    ALARM->intclr = 1;
    ALARM->load = (uint32_t)ahead * CYCLES_PER_MS - sub_cycles;
    ALARM->control = DUALTIMER_CTRL_ENABLE | DUALTIMER_CTRL_ONESHOT |
                     DUALTIMER_CTRL_SIZE32 | DUALTIMER_CTRL_INTEN;
    alarm_ms = t;
    alarm_set = 1;
    return 1;
}

void IRQ10_Handler(void)
{
    ALARM->intclr = 1;
    alarm_set = 0;
}

#endif /* DUALTIMER */
