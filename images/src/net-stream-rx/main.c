/*
 * net-stream-rx: the receiving end of the streaming benchmark
 * (images/scenarios/stream2.toml, BENCHMARKS.md). Brings the interface up
 * (as the scenario's first device it is 10.0.0.1, where net-stream-tx
 * sends), counts the UDP datagrams and payload bytes that reach port
 * STREAM_PORT, and prints one line per second of virtual time from the
 * first datagram on:
 *
 *     net-stream-rx: rx: N datagrams, M bytes in the last second
 *
 * Once nothing has come for QUIET_MS it prints the totals over the span
 * from the first datagram to the last (datagrams, bytes, rate, sequence
 * numbers missing, frames the LAN9118 dropped for lack of FIFO space) and
 * "net-stream-rx: done". If nothing comes at all within NO_SENDER_MS it
 * says so and is done too.
 *
 * The first 4 payload bytes are the sender's sequence number (big-endian);
 * a jump counts the datagrams skipped as lost.
 *
 * It also measures how busy it was over that span: the processor cycles
 * (net_now_cycles) spent outside net_idle's WFI.
 * A receiver near 100% would be the bottleneck; well below, the sender is.
 *
 * Times and counts are printed: under Ensemble they are virtual and the
 * same on every run; on QEMU (host time) they vary.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "lan9118.h"
#include "net.h"

#define STREAM_PORT   7000
#define REPORT_MS     1000
#define QUIET_MS      2000
#define NO_SENDER_MS  20000

static uint32_t total_dgrams, total_bytes, window_dgrams, window_bytes;
static uint32_t first_ms, last_ms, next_seq, lost, reordered;
static int started;
/* Cycles spent in net_idle, in all and as of the first and last datagram. */
static uint64_t idle_cycles, idle_at_first, idle_at_last;

#define CYCLES_PER_MS (SYSCLK_HZ / 1000u)

static void idle(void)
{
    uint64_t t0 = net_now_cycles();
    net_idle();
    idle_cycles += net_now_cycles() - t0;
}

static void on_datagram(uint32_t src, uint16_t src_port, uint32_t dst,
                        const uint8_t *data, unsigned len)
{
    (void)src;
    (void)src_port;
    (void)dst;
    uint32_t now = net_now_ms();
    if (!started) {
        started = 1;
        first_ms = now;
        idle_at_first = idle_cycles;
    }
    last_ms = now;
    idle_at_last = idle_cycles;
    total_dgrams++;
    total_bytes += len;
    window_dgrams++;
    window_bytes += len;
    if (len >= 4) {
        uint32_t seq = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                       (uint32_t)data[2] << 8 | data[3];
        if (seq >= next_seq) {
            lost += seq - next_seq;
            next_seq = seq + 1;
        } else {
            reordered++;
        }
    }
}

int main(void)
{
    if (net_init(0, 0) < 0) {
        con_puts("net-stream-rx: no LAN9118\n");
        con_puts("net-stream-rx: done\n");
        return 0;
    }
    udp_bind(STREAM_PORT, on_datagram);
    const struct lan9118_link *link = lan9118_link();
    con_printf("net-stream-rx: rx-%u is %s (%s), link %s, %u Mbit/s %s duplex, port %u\n",
               net_if.device, ip_str(net_if.ip), mac_str(net_if.mac),
               link->up ? "up" : "down", link->mbps, link->full_duplex ? "full" : "half",
               (unsigned)STREAM_PORT);
    (void)LAN9118->rx_drop;   /* clear-on-read: count from here */

    uint32_t give_up = net_now_ms() + NO_SENDER_MS, next_report = 0;
    for (;;) {
        net_poll();
        if (!started) {
            if (net_time_reached(give_up)) {
                con_puts("net-stream-rx: nothing received\n");
                con_puts("net-stream-rx: done\n");
                return 0;
            }
            idle();
            continue;
        }
        if (next_report == 0)
            next_report = first_ms + REPORT_MS;
        if (net_time_reached(next_report)) {
            con_printf("net-stream-rx: rx: %u datagrams, %u bytes in the last second\n",
                       (unsigned)window_dgrams, (unsigned)window_bytes);
            window_dgrams = window_bytes = 0;
            next_report += REPORT_MS;
        }
        if (net_time_reached(last_ms + QUIET_MS))
            break;
        idle();
    }
    uint32_t chip_drops = LAN9118->rx_drop;
    /* From the first datagram to the last: the span the sender filled. */
    uint32_t span = last_ms - first_ms;
    if (span == 0)
        span = 1;
    con_printf("net-stream-rx: total %u datagrams, %u bytes in %u ms (first at t=%u ms), "
               "%u missing, %u out of order, %u dropped by the LAN9118\n",
               (unsigned)total_dgrams, (unsigned)total_bytes, (unsigned)span,
               (unsigned)first_ms, (unsigned)lost, (unsigned)reordered, (unsigned)chip_drops);
    uint64_t span_cycles = (uint64_t)span * CYCLES_PER_MS;
    uint64_t idle_span = idle_at_last - idle_at_first;
    if (idle_span > span_cycles)
        idle_span = span_cycles;
    con_printf("net-stream-rx: %u datagrams/s, %u kbit/s of payload, busy %u.%u%%\n",
               (unsigned)((uint64_t)total_dgrams * 1000 / span),
               (unsigned)((uint64_t)total_bytes * 8 / span),
               (unsigned)((span_cycles - idle_span) * 100 / span_cycles),
               (unsigned)((span_cycles - idle_span) * 1000 / span_cycles % 10));
    con_puts("net-stream-rx: done\n");
    return 0;
}
