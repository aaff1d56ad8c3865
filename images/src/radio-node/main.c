/*
 * radio-node: a sensor node on the RAD1 packet radio (include/radio.h),
 * for the sensor-node board. Several of them in one scenario talk to each
 * other over the emulated air; QEMU has no such radio.
 *
 * The node takes its 16-bit short address from the radio's unique id
 * (EUI), listens on channel 15 of PAN 0xE5E5 with the address filter on,
 * and once a second, starting at a phase set by its address so that nodes
 * take turns, broadcasts a data frame "hello from 0xNNNN seq K" after a
 * clear channel assessment (CSMA: a busy channel is retried after a short
 * back-off, up to CCA_TRIES times). Every frame it receives is printed
 * with its source address, RSSI and LQI. After 5 s it prints the radio's
 * counters, switches the radio off and sleeps for good.
 *
 * One-letter commands on UART0, for tests of the air (a scenario's
 * write-uart step), are acted on as they arrive:
 *   L  send a 127-byte broadcast frame at once, without a CCA
 *      ("tx long: 127 bytes"; 4.3 ms on air)
 *   C  assess the channel once: "cca busy at T ms" or "cca clear at T ms"
 *   S  send a hello now, with CSMA as above (not counted in the 5)
 *
 * Time comes from SysTick at 1 kHz (processor clock). Output depends only
 * on virtual time and on what the other nodes send, so a given scenario
 * always prints the same lines.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "radio_driver.h"

#define CHANNEL    15
#define PAN        0xE5E5u
#define HELLOS     5
#define PERIOD_MS  1000u
#define RUN_MS     5000u
#define CCA_TRIES  4

/* MAC header of the frames sent: data frame, PAN id compression, 16-bit
 * destination and source: frame control, sequence, PAN, destination, source. */
#define HELLO_FC   (RADIO_FC_TYPE_DATA | RADIO_FC_PAN_ID_COMPRESSION | \
                    RADIO_FC_DEST_SHORT | RADIO_FC_SRC_SHORT)
#define HDR_LEN    9

static volatile uint32_t ms;
/* The last command byte from UART0, 0 when taken. */
static volatile char command;

void SysTick_Handler(void)
{
    ms++;
}

void IRQ0_Handler(void)   /* UART0 receive */
{
    UART0->intstatus = UART_INT_RX;
    command = (char)UART0->data;
}

/* Sleep until the millisecond count reaches t. A tick that comes between
 * the test and the WFI is not lost: the next one wakes it 1 ms later. */
static void sleep_until(uint32_t t)
{
    while ((int32_t)(ms - t) < 0)
        cpu_wfi();
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Append text, a 4-digit hex number or a decimal number to f->data. */
static void add_str(struct radio_frame *f, const char *s)
{
    while (*s && f->len < RADIO_MAX_FRAME)
        f->data[f->len++] = (uint8_t)*s++;
}

static void add_hex4(struct radio_frame *f, uint16_t v)
{
    for (int shift = 12; shift >= 0; shift -= 4)
        if (f->len < RADIO_MAX_FRAME)
            f->data[f->len++] = (uint8_t)"0123456789abcdef"[(v >> shift) & 0xF];
}

static void add_dec(struct radio_frame *f, unsigned v)
{
    char digits[10];
    unsigned n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && f->len < RADIO_MAX_FRAME)
        f->data[f->len++] = (uint8_t)digits[--n];
}

static void print_payload(const uint8_t *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        con_putc(p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '.');
    con_putc('\n');
}

/* "rx from 0x0002 rssi -52 lqi 230: hello from 0x0002 seq 3". */
static void print_frame(const struct radio_frame *f)
{
    uint16_t fc = f->len >= 3 ? get16(f->data) : 0;
    /* Past frame control, sequence, destination PAN and address (the
     * filter only lets data frames with a short destination through). */
    unsigned src = 7;

    if (!(fc & RADIO_FC_PAN_ID_COMPRESSION))
        src += 2;   /* source PAN */
    if ((fc & 0xC000u) != RADIO_FC_SRC_SHORT || f->len < src + 2) {
        con_printf("rx %u bytes rssi %d lqi %u: not a frame from a short address\n",
                   (unsigned)f->len, (int)f->rssi, (unsigned)f->lqi);
        return;
    }
    con_printf("rx from 0x%04x rssi %d lqi %u: ", (unsigned)get16(&f->data[src]),
               (int)f->rssi, (unsigned)f->lqi);
    print_payload(&f->data[src + 2], f->len - (src + 2));
}

static void print_received(void)
{
    struct radio_frame f;

    while (radio_recv(&f))
        print_frame(&f);
}

/* CSMA: look at the channel, back off while it is busy, then send. */
static void send_hello(uint16_t addr, unsigned seq)
{
    struct radio_frame f;

    put16(&f.data[0], HELLO_FC);
    f.data[2] = (uint8_t)seq;
    put16(&f.data[3], PAN);
    put16(&f.data[5], RADIO_BROADCAST);
    put16(&f.data[7], addr);
    f.len = HDR_LEN;
    add_str(&f, "hello from 0x");
    add_hex4(&f, addr);
    add_str(&f, " seq ");
    add_dec(&f, seq);

    for (unsigned try = 0; try < CCA_TRIES; try++) {
        if (radio_cca()) {
            radio_send(&f);
            con_printf("tx seq %u: ", seq);
            print_payload(&f.data[HDR_LEN], f.len - HDR_LEN);
            return;
        }
        /* 1..4 ms, different for neighbouring addresses. */
        uint32_t backoff = 1 + ((addr + try) & 3);
        con_printf("tx seq %u: channel busy, retry in %u ms\n", seq, (unsigned)backoff);
        sleep_until(ms + backoff);
    }
    con_printf("tx seq %u: channel busy, not sent\n", seq);
}

/* A frame as long as the radio allows: the header, then "long from
 * 0xNNNN " padded with dots. */
static void send_long(uint16_t addr, unsigned seq)
{
    struct radio_frame f;

    put16(&f.data[0], HELLO_FC);
    f.data[2] = (uint8_t)seq;
    put16(&f.data[3], PAN);
    put16(&f.data[5], RADIO_BROADCAST);
    put16(&f.data[7], addr);
    f.len = HDR_LEN;
    add_str(&f, "long from 0x");
    add_hex4(&f, addr);
    while (f.len < RADIO_MAX_FRAME)
        f.data[f.len++] = '.';
    radio_send(&f);
    con_printf("tx long: %u bytes\n", (unsigned)f.len);
}

static void obey(char c, uint16_t addr, unsigned *seq)
{
    switch (c) {
    case 'L':
        send_long(addr, (*seq)++);
        break;
    case 'C': {
        uint32_t at = ms;
        con_printf("cca %s at %u ms\n", radio_cca() ? "clear" : "busy", (unsigned)at);
        break;
    }
    case 'S':
        send_hello(addr, (*seq)++);
        break;
    default:
        break;
    }
}

int main(void)
{
    con_puts("radio-node: " BOARD_NAME "\n");

    SYSTICK->load = SYSCLK_HZ / 1000 - 1;
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;

    if (!radio_init(CHANNEL, PAN, RADIO_BROADCAST)) {
        con_puts("radio-node: no radio found\n");
        con_puts("radio-node: done\n");
        return 0;
    }
    uint32_t eui = radio_eui();
    /* 0xFFFF is broadcast and 0xFFFE means "no short address". */
    uint16_t addr = (uint16_t)eui;
    if (addr >= 0xFFFEu)
        addr &= 0x7FFF;
    RADIO->short_addr = addr;
    con_printf("radio-node: eui 0x%08x, address 0x%04x, PAN 0x%04x, channel %u\n",
               (unsigned)eui, (unsigned)addr, PAN, CHANNEL);

    UART0->ctrl |= UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;
    nvic_enable(IRQ_UART0_RX);

    /* First hello between 100 and 800 ms, then one a second. */
    uint32_t next_hello = 100 + (addr % 8u) * 100;
    unsigned seq = 0, hellos = 0;
    while (ms < RUN_MS) {
        print_received();
        cpu_irq_disable();
        char c = command;
        command = 0;
        cpu_irq_enable();
        if (c)
            obey(c, addr, &seq);
        if (hellos < HELLOS && ms >= next_hello) {
            send_hello(addr, seq++);
            hellos++;
            next_hello += PERIOD_MS;
        }
        cpu_wfi();
    }
    print_received();

    con_printf("radio-node: sent %u, received %u, dropped %u\n",
               (unsigned)RADIO->tx_count, (unsigned)RADIO->rx_count,
               (unsigned)(RADIO->rx_dropped + radio_queue_lost()));
    radio_off();
    con_puts("radio-node: done\n");
    return 0;   /* the reset handler halts: interrupts off, no wake-up source */
}
