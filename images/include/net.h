/*
 * A small IPv4 stack for the test images (lib/net/): Ethernet II, ARP,
 * IPv4 without fragmentation, ICMP echo (reply and a ping client), UDP with
 * per-port handlers, broadcast and IPv4 multicast. One interface (the
 * LAN9118), static addresses, no DHCP. Everything runs from the main loop:
 *
 *     net_init(NULL, 0);   // MAC from the chip, address from the MAC
 *     for (;;) {
 *         net_poll();     // take received frames, run the ARP timers
 *         ...             // the image's own work
 *         net_idle_until(next);  // sleep until a frame, `next` or the
 *     }                          // stack's own next deadline
 *
 * (net_idle() instead sleeps at most until the next millisecond, for
 * images that poll their own timers at every millisecond.)
 *
 * Time (net_now_ms) counts milliseconds from net_clock_init on the CMSDK
 * dual timer, tickless: counter 1 runs free as the time base, counter 2 is
 * a one-shot alarm set for the next thing due when the processor goes to
 * sleep, so an idle device is not woken every millisecond. The library
 * defines IRQ10_Handler (the dual timer, lib/net/clock.c) and
 * IRQ13_Handler (lib/net/lan9118.c), so a network image must not define
 * either, nor use the dual timer; SysTick is free. Outputs that must
 * compare equal between emulators never print these times, only event
 * orders.
 *
 * Addresses are uint32_t in host order (10.0.0.1 is 0x0A000001); packet
 * bytes are always assembled and parsed byte by byte, in network order.
 *
 * Identity (one image serves any number of devices): the device number N
 * is the last byte of the MAC address, which Ensemble's scenarios set to
 * the device's index (52:54:00:12:34:NN, from 00 for the first device) and
 * QEMU to whatever -nic ...,mac= says (52:54:00:12:34:56 by default). The
 * device's address is NET_SUBNET + N + 1, i.e. 10.0.0.(N+1)/24 by default:
 * the first device is 10.0.0.1, and host 0 (the network's own number) is
 * never used. N = 254 and 255 would give 255 (broadcast) and 256, so they
 * fall back to host 254. An image that wants a fixed address passes it to
 * net_init instead.
 */
#ifndef ENSEMBLE_NET_H
#define ENSEMBLE_NET_H

#include <stdint.h>

#define IP4(a, b, c, d) \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

#ifndef NET_SUBNET
#define NET_SUBNET  IP4(10, 0, 0, 0)
#endif
#ifndef NET_NETMASK
#define NET_NETMASK IP4(255, 255, 255, 0)
#endif
#ifndef NET_GATEWAY
#define NET_GATEWAY 0u     /* none: only the local subnet is reachable */
#endif

#define IP4_BROADCAST     0xFFFFFFFFu
#define IP4_IS_MULTICAST(ip) (((ip) >> 28) == 0xE)

#define ETH_ALEN          6
#define ETH_HLEN          14
#define ETH_MIN_FRAME     60       /* without FCS; shorter frames are padded */
#define ETHERTYPE_IPV4    0x0800
#define ETHERTYPE_ARP     0x0806
#define IP_HLEN           20       /* we send no options */
#define IP_PROTO_ICMP     1
#define IP_PROTO_UDP      17
#define UDP_HLEN          8
#define NET_MTU           1500
#define UDP_MAX_PAYLOAD   (NET_MTU - IP_HLEN - UDP_HLEN)

struct net_iface {
    uint8_t mac[ETH_ALEN];
    uint32_t ip, netmask, gateway;
    unsigned device;               /* N, the MAC's last byte */
};

extern struct net_iface net_if;

/* ---- time (lib/net/clock.c) -------------------------------------------- */

/* Start the clock (net_init does; calling it again keeps the time). */
void net_clock_init(void);
uint32_t net_now_ms(void);
/* Processor cycles since net_clock_init (for measuring busy time). */
uint64_t net_now_cycles(void);
/* Has the ms clock reached t? Correct across the 49-day wrap. */
static inline int net_time_reached(uint32_t t)
{
    return (int32_t)(net_now_ms() - t) >= 0;
}

/* ---- interface --------------------------------------------------------- */

/*
 * Start the clock and the LAN9118, enable the RX interrupt and announce
 * our address with a gratuitous ARP. mac_override: NULL keeps the chip's
 * MAC address (a chip without one, all zeros, gets 02:00:00:00:00:01,
 * locally administered). static_ip: 0 derives the address from the MAC
 * (see above). Returns 0, or -1 if there is no network controller.
 */
int net_init(const uint8_t *mac_override, uint32_t static_ip);
void net_poll(void);

/*
 * Sleep until a frame arrives, the ms clock reaches `until`, or something
 * of the stack falls due (an ARP retry, and whatever the layers above
 * registered with net_add_due_source), whichever comes first; return at
 * once if one already has. Then call net_poll (and the layers' polls)
 * again. Sleeps are cut to 60 s, so a far `until` is fine.
 */
void net_idle_until(uint32_t until);
/* Sleep until a frame arrives or the next millisecond starts. */
void net_idle(void);

/*
 * A layer above the stack (the soft bus) tells net_idle_until when it next
 * needs its poll function to run: next_due stores that ms time in *due and
 * returns 1, or returns 0 when nothing is pending. Up to 2 sources.
 */
void net_add_due_source(int (*next_due)(uint32_t *due));

/* Accept IPv4 packets sent to this multicast group (up to 4 groups). */
void net_join_group(uint32_t group);

/* Text forms for printing; each call returns one of 4 rotating buffers,
 * so up to 4 may appear in one con_printf. */
const char *ip_str(uint32_t ip);
const char *mac_str(const uint8_t mac[ETH_ALEN]);

/* ---- ARP (lib/net/arp.c) ------------------------------------------------ */

/*
 * Is ip's MAC address known? If so copy it to mac (which may be NULL) and
 * return 1; otherwise start resolving it (a request now, retried twice at
 * 1 s intervals) and return 0.
 */
int arp_resolve(uint32_t ip, uint8_t mac[ETH_ALEN]);

/* ---- IPv4 / ICMP / UDP (lib/net/ip.c) ----------------------------------- */

/*
 * Send an IPv4 packet. Returns 0 when sent or queued behind an ARP request
 * (sent once the reply comes), -1 if it cannot be (no route, queue full).
 */
int ip_send(uint32_t dst, uint8_t proto, const void *payload, unsigned len);

/* Ping client: an echo request of `len` data bytes (a fixed pattern). */
int icmp_ping(uint32_t dst, uint16_t id, uint16_t seq, unsigned len);
/* Called for each echo reply; data_ok says the data came back intact. */
typedef void (*icmp_reply_fn)(uint32_t src, uint16_t id, uint16_t seq,
                              unsigned len, uint8_t ttl, int data_ok);
void icmp_on_reply(icmp_reply_fn fn);

/* UDP. A handler gets the payload of each datagram sent to its port;
 * dst tells unicast from broadcast/multicast. At most 4 ports. */
typedef void (*udp_handler_fn)(uint32_t src, uint16_t src_port, uint32_t dst,
                               const uint8_t *data, unsigned len);
int udp_bind(uint16_t port, udp_handler_fn fn);
int udp_send(uint32_t dst, uint16_t src_port, uint16_t dst_port,
             const void *data, unsigned len);

#endif
