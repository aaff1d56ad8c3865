/*
 * a64-counter: a bare-metal AArch64 program for the debugger tests
 * (emulator/tests/gdb_a64.rs) on the aarch64-virt board. Booted with
 * --kernel a64-counter.bin (the ELF is for gdb's symbols); runs with the
 * MMU off, prints on the PL011 at 0x0900_0000 and powers off.
 *
 * Output:
 *   a64-counter: start
 *   tick 1 counter=1          (ten lines: tick() adds i to counter)
 *   ...
 *   tick 10 counter=55
 *   a64-counter: svc_calls=1 imm=0x42
 *   a64-counter: timer_irqs=1   (the virtual timer's interrupt, through
 *                                the GICv2, once)
 *   a64-counter: done
 *
 * A debugger that sets `spin` before the end makes it count on in a loop
 * (printing "a64-counter: spinning" once) until `spin` is cleared again.
 */
#include <stdint.h>

#define UART0_DR (*(volatile uint32_t *)0x09000000UL)
#define UART0_FR (*(volatile uint32_t *)0x09000018UL)
#define FR_TXFF (1u << 5)
#define EC_SVC64 0x15u

/* GICv2 (distributor, CPU interface) and the virtual timer's PPI. */
#define REG32(addr) (*(volatile uint32_t *)(addr))
#define GICD_CTLR 0x08000000UL
#define GICD_ISENABLER0 0x08000100UL
#define GICC_CTLR 0x08010000UL
#define GICC_PMR 0x08010004UL
#define GICC_IAR 0x0801000cUL
#define GICC_EOIR 0x08010010UL
#define PPI_VIRTUAL_TIMER 27u
/* 10 us of the 62.5 MHz counter. */
#define TIMER_TICKS 625u

void call_svc(void);
void wait_for_irq(void);
void system_off(void) __attribute__((noreturn));
void on_sync(uint64_t esr);
void on_irq(uint64_t elr);
void on_unexpected(uint64_t esr, uint64_t elr) __attribute__((noreturn));
int main(void);

/* What the tests watch and change. */
volatile uint64_t counter;
volatile uint32_t spin;
volatile uint32_t svc_calls;
volatile uint32_t svc_imm;
volatile uint32_t timer_irqs;

static void put_char(char c)
{
    while (UART0_FR & FR_TXFF) {
    }
    UART0_DR = (uint8_t)c;
}

static void put_str(const char *s)
{
    while (*s) {
        put_char(*s++);
    }
}

static void put_dec(uint64_t v)
{
    char buf[21];
    int i = sizeof buf - 1;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_str(&buf[i]);
}

static void put_hex(uint64_t v)
{
    int shift = 60;
    while (shift > 0 && !(v >> shift)) {
        shift -= 4;
    }
    for (; shift >= 0; shift -= 4) {
        put_char("0123456789abcdef"[(v >> shift) & 0xf]);
    }
}

/* The counter reached through a pointer: the load of its value replaces
 * the pointer in the same register, so a debugger that stops before that
 * load must undo all of it. */
volatile uint64_t *volatile counter_at = &counter;

/* Called once per pass of main's loop. */
__attribute__((noinline)) uint64_t tick(uint64_t step)
{
    counter += step;
    return *counter_at;
}

/* The synchronous exception handler's C part (start.S saves registers). */
void on_sync(uint64_t esr)
{
    if (esr >> 26 != EC_SVC64) {
        on_unexpected(esr, 0);
    }
    svc_calls++;
    svc_imm = (uint32_t)(esr & 0xffff);
}

/* The IRQ handler's C part: the timer's interrupt, acknowledged and its
 * line lowered by turning the timer off. */
void on_irq(uint64_t elr)
{
    (void)elr;
    uint32_t iar = REG32(GICC_IAR);
    if ((iar & 0x3ff) == PPI_VIRTUAL_TIMER) {
        timer_irqs++;
        __asm__ volatile("msr cntv_ctl_el0, %0" ::"r"((uint64_t)0));
    }
    REG32(GICC_EOIR) = iar;
}

/* The virtual timer's interrupt, enabled at the GIC, due in TIMER_TICKS. */
static void arm_timer(void)
{
    REG32(GICD_CTLR) = 1;
    REG32(GICD_ISENABLER0) = 1u << PPI_VIRTUAL_TIMER;
    REG32(GICC_PMR) = 0xff;
    REG32(GICC_CTLR) = 1;
    __asm__ volatile("msr cntv_tval_el0, %0" ::"r"((uint64_t)TIMER_TICKS));
    __asm__ volatile("msr cntv_ctl_el0, %0; isb" ::"r"((uint64_t)1));
}

void on_unexpected(uint64_t esr, uint64_t elr)
{
    put_str("a64-counter: unexpected exception, ESR 0x");
    put_hex(esr);
    put_str(" ELR 0x");
    put_hex(elr);
    put_char('\n');
    system_off();
}

int main(void)
{
    put_str("a64-counter: start\n");
    for (uint64_t i = 1; i <= 10; i++) {
        uint64_t now = tick(i);
        put_str("tick ");
        put_dec(i);
        put_str(" counter=");
        put_dec(now);
        put_char('\n');
    }
    call_svc();
    put_str("a64-counter: svc_calls=");
    put_dec(svc_calls);
    put_str(" imm=0x");
    put_hex(svc_imm);
    put_char('\n');
    arm_timer();
    wait_for_irq();
    put_str("a64-counter: timer_irqs=");
    put_dec(timer_irqs);
    put_char('\n');
    if (spin) {
        put_str("a64-counter: spinning\n");
        while (spin) {
            counter++;
        }
    }
    put_str("a64-counter: done\n");
    return 0;
}
