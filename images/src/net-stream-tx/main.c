/*
 * net-stream-tx: UDP at full speed, for the streaming benchmark
 * (images/scenarios/stream2.toml, BENCHMARKS.md). Brings the interface up
 * (address from the MAC, see net.h), resolves the receiver 10.0.0.1 (the
 * first device of a scenario, running net-stream-rx) with ARP, then, from
 * STREAM_START_MS of virtual time on the stack's millisecond clock, sends
 * datagrams of STREAM_PAYLOAD bytes to its port STREAM_PORT back to back,
 * as fast as the stack and the LAN9118 take them, for STREAM_MS. Then it
 * prints how many it sent and "net-stream-tx: done".
 *
 * Payload: a 32-bit big-endian sequence number from 0, then a fixed
 * pattern, so the receiver can count gaps.
 *
 * Without a receiver it streams the same datagrams to the subnet
 * broadcast 10.0.0.255 instead: the same work per datagram (only the
 * Ethernet destination differs and no ARP entry is looked up), in frames
 * that nobody takes. That is when this device is itself 10.0.0.1 (the
 * scenario's only device: images/scenarios/stream1.toml; the switch then
 * carries the frames to no port), and when 10.0.0.1 does not answer ARP
 * within RESOLVE_TIMEOUT_MS (alone under `ensemble run`, MAC
 * 52:54:00:12:34:56: streaming from t = 3 s to 8 s, so that
 * `ensemble run --stats` times the same guest work without a scenario).
 *
 * Times and counts are printed: under Ensemble they are virtual and the
 * same on every run; on QEMU (host time) they vary.
 */
#include <stdint.h>

#include "console.h"
#include "lan9118.h"
#include "net.h"

#define STREAM_TARGET      IP4(10, 0, 0, 1)
#define STREAM_PORT        7000
#define STREAM_SRC_PORT    7001
#define STREAM_PAYLOAD     1024
/* A fixed start, so that the stream covers the same span of virtual time
 * with or without a receiver; ARP is long done by then. */
#define STREAM_START_MS    1000
#define STREAM_MS          5000
/* ARP tries 3 times, a second apart (arp.c). */
#define RESOLVE_TIMEOUT_MS 3000

static uint8_t payload[STREAM_PAYLOAD];

int main(void)
{
    uint32_t dst = STREAM_TARGET;

    if (net_init(0, 0) < 0) {
        con_puts("net-stream-tx: no LAN9118\n");
        con_puts("net-stream-tx: done\n");
        return 0;
    }
    const struct lan9118_link *link = lan9118_link();
    con_printf("net-stream-tx: tx-%u is %s (%s), link %s, %u Mbit/s %s duplex\n",
               net_if.device, ip_str(net_if.ip), mac_str(net_if.mac),
               link->up ? "up" : "down", link->mbps, link->full_duplex ? "full" : "half");

    if (net_if.ip == STREAM_TARGET) {
        dst = net_if.ip | ~net_if.netmask;
        con_printf("net-stream-tx: no receiver (this device is %s): streaming to %s\n",
                   ip_str(STREAM_TARGET), ip_str(dst));
    } else {
        /* Resolve before the first datagram: ip_send would queue only 4
         * packets behind the ARP request and drop the rest. */
        uint8_t mac[ETH_ALEN];
        uint32_t give_up = net_now_ms() + RESOLVE_TIMEOUT_MS;
        int resolved;
        while (!(resolved = arp_resolve(dst, mac))) {
            if (net_time_reached(give_up))
                break;
            net_poll();
            net_idle();
        }
        if (resolved) {
            con_printf("net-stream-tx: %s is at %s (t=%u ms)\n", ip_str(dst), mac_str(mac),
                       (unsigned)net_now_ms());
        } else {
            dst = net_if.ip | ~net_if.netmask;
            con_printf("net-stream-tx: no ARP reply from %s: streaming to %s instead\n",
                       ip_str(STREAM_TARGET), ip_str(dst));
        }
    }

    for (unsigned i = 4; i < STREAM_PAYLOAD; i++)
        payload[i] = (uint8_t)('A' + i % 26);

    uint32_t start = STREAM_START_MS;
    if (net_time_reached(start))
        start = net_now_ms();
    while (!net_time_reached(start)) {
        net_poll();
        net_idle();
    }
    con_printf("net-stream-tx: streaming %u-byte datagrams to %s:%u for %u ms from t=%u ms\n",
               (unsigned)STREAM_PAYLOAD, ip_str(dst), (unsigned)STREAM_PORT,
               (unsigned)STREAM_MS, (unsigned)start);

    uint32_t end = start + STREAM_MS, sent = 0, failed = 0;
    while (!net_time_reached(end)) {
        payload[0] = (uint8_t)(sent >> 24);
        payload[1] = (uint8_t)(sent >> 16);
        payload[2] = (uint8_t)(sent >> 8);
        payload[3] = (uint8_t)sent;
        if (udp_send(dst, STREAM_SRC_PORT, STREAM_PORT, payload, STREAM_PAYLOAD) == 0)
            sent++;
        else
            failed++;
        /* Answer ARP, drain anything received; never sleep. */
        net_poll();
    }
    uint32_t elapsed = net_now_ms() - start;
    con_printf("net-stream-tx: sent %u datagrams (%u payload bytes) in %u ms, %u failed\n",
               (unsigned)sent, (unsigned)(sent * STREAM_PAYLOAD), (unsigned)elapsed,
               (unsigned)failed);
    con_printf("net-stream-tx: %u datagrams/s, %u kbit/s of payload\n",
               (unsigned)((uint64_t)sent * 1000 / elapsed),
               (unsigned)((uint64_t)sent * STREAM_PAYLOAD * 8 / elapsed));
    con_puts("net-stream-tx: done\n");
    return 0;
}
