/*
 * net-ping: ICMP echo over the LAN9118 and the lib/net stack. Brings the
 * interface up (address from the MAC, see net.h), resolves the target with
 * ARP, retrying for up to 10 s so that the target may start later, then
 * sends PING_COUNT echo requests a second apart, waiting up to a second
 * for each reply. Meanwhile it answers ARP and pings itself.
 *
 * The target is NET_PING_TARGET, 10.0.0.1 unless built with
 * -DNET_PING_TARGET=...: device 0 (MAC 52:54:00:12:34:00, the first device
 * of a scenario, by convention the hub), or QEMU's user-mode network host
 * with -nic user,net=10.0.0.0/24,host=10.0.0.1.
 *
 * Only events are printed, never times: the output depends on which
 * replies come back, not on how fast.
 */
#include <stdint.h>

#include "console.h"
#include "lan9118.h"
#include "net.h"

#ifndef NET_PING_TARGET
#define NET_PING_TARGET IP4(10, 0, 0, 1)
#endif
#define PING_COUNT         4
#define PING_BYTES         56
#define PING_INTERVAL_MS   1000
#define RESOLVE_TIMEOUT_MS 10000

static uint16_t ping_id;
static uint16_t waiting_seq;   /* the request whose reply counts now */
static int replied;

static void on_reply(uint32_t src, uint16_t id, uint16_t seq, unsigned len,
                     uint8_t ttl, int data_ok)
{
    /* Late replies to an earlier request were already counted as lost. */
    if (src != NET_PING_TARGET || id != ping_id || seq != waiting_seq || replied)
        return;
    replied = 1;
    con_printf("net-ping: reply from %s: seq=%u bytes=%u ttl=%u%s\n", ip_str(src),
               (unsigned)seq, len, (unsigned)ttl, data_ok ? "" : " DATA CORRUPT");
}

/* Keep the stack running until the ms clock reaches t or *flag is set. */
static void run_until(uint32_t t, const int *flag)
{
    while (!(flag && *flag) && !net_time_reached(t)) {
        net_poll();
        net_idle();
    }
}

int main(void)
{
    const uint32_t target = NET_PING_TARGET;

    if (net_init(0, 0) < 0) {
        con_puts("net-ping: no LAN9118\n");
        con_puts("net-ping: done\n");
        return 0;
    }
    const struct lan9118_link *link = lan9118_link();
    con_printf("net-ping: ping-%u is %s (%s), link %s, %u Mbit/s %s duplex\n",
               net_if.device, ip_str(net_if.ip), mac_str(net_if.mac),
               link->up ? "up" : "down", link->mbps, link->full_duplex ? "full" : "half");

    /* Resolve first, so that the echo requests measure the path and not
     * the ARP exchange (and the first one is not lost while the target is
     * still starting). */
    uint8_t mac[ETH_ALEN];
    uint32_t give_up = net_now_ms() + RESOLVE_TIMEOUT_MS;
    con_printf("net-ping: resolving %s\n", ip_str(target));
    while (!arp_resolve(target, mac)) {
        if (net_time_reached(give_up)) {
            con_printf("net-ping: no ARP reply from %s\n", ip_str(target));
            con_puts("net-ping: done\n");
            return 0;
        }
        net_poll();
        net_idle();
    }
    con_printf("net-ping: %s is at %s\n", ip_str(target), mac_str(mac));

    ping_id = (uint16_t)(0x5000 | net_if.device);
    icmp_on_reply(on_reply);
    unsigned received = 0;
    for (unsigned seq = 1; seq <= PING_COUNT; seq++) {
        uint32_t sent_at = net_now_ms();
        waiting_seq = (uint16_t)seq;
        replied = 0;
        if (icmp_ping(target, ping_id, (uint16_t)seq, PING_BYTES) < 0)
            con_printf("net-ping: seq=%u could not be sent\n", seq);
        run_until(sent_at + PING_INTERVAL_MS, &replied);
        if (replied)
            received++;
        else
            con_printf("net-ping: seq=%u timed out\n", seq);
        run_until(sent_at + PING_INTERVAL_MS, 0);
    }
    con_printf("net-ping: %u sent, %u received\n", (unsigned)PING_COUNT, received);
    con_puts("net-ping: done\n");
    return 0;
}
