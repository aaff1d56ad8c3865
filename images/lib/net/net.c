/*
 * The interface: bring-up and identity, the receive loop that hands each
 * frame to ARP or IPv4, Ethernet output, and the small shared helpers.
 */
#include <stdint.h>
#include <string.h>

#include "cortex_m.h"
#include "lan9118.h"
#include "net.h"
#include "net_internal.h"

#define LINK_TIMEOUT_MS 3000
#define MAX_GROUPS      4

struct net_iface net_if;

const uint8_t eth_broadcast[ETH_ALEN] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

static uint32_t groups[MAX_GROUPS];
static unsigned group_count;

#define MAX_DUE_SOURCES 2
static int (*due_sources[MAX_DUE_SOURCES])(uint32_t *due);

/* One received frame at a time, processed before the next is taken.
 * Word-aligned, so the driver copies it out a dword at a time. */
static uint8_t rx_frame[ETH_FRAME_MAX] __attribute__((aligned(4)));

int net_init(const uint8_t *mac_override, uint32_t static_ip)
{
    static const uint8_t zero[ETH_ALEN];
    static const uint8_t fallback[ETH_ALEN] = {0x02, 0, 0, 0, 0, 0x01};

    net_clock_init();
    if (lan9118_init(mac_override, LINK_TIMEOUT_MS) < 0)
        return -1;
    lan9118_get_mac(net_if.mac);
    /* No EEPROM: no address at all. A multicast one cannot be a source. */
    if (memcmp(net_if.mac, zero, ETH_ALEN) == 0 || (net_if.mac[0] & 1)) {
        lan9118_set_mac(fallback);
        memcpy(net_if.mac, fallback, ETH_ALEN);
    }

    net_if.device = net_if.mac[ETH_ALEN - 1];
    unsigned host = net_if.device < 254 ? net_if.device + 1 : 254;
    net_if.ip = static_ip ? static_ip : NET_SUBNET | host;
    net_if.netmask = NET_NETMASK;
    net_if.gateway = NET_GATEWAY;

    lan9118_enable_rx_irq();
    arp_announce();
    return 0;
}

void net_join_group(uint32_t group)
{
    if (!IP4_IS_MULTICAST(group) || group_count == MAX_GROUPS)
        return;
    groups[group_count++] = group;
    /* RFC 1112: 01:00:5e followed by the group's low 23 bits. */
    uint8_t mac[ETH_ALEN] = {0x01, 0x00, 0x5E, (uint8_t)((group >> 16) & 0x7F),
                             (uint8_t)(group >> 8), (uint8_t)group};
    lan9118_add_multicast(mac);
}

int net_accepts(uint32_t ip)
{
    if (ip == net_if.ip || ip == IP4_BROADCAST || ip == (net_if.ip | ~net_if.netmask))
        return 1;
    for (unsigned i = 0; i < group_count; i++)
        if (groups[i] == ip)
            return 1;
    return 0;
}

void net_poll(void)
{
    int len;

    while ((len = lan9118_recv(rx_frame, sizeof rx_frame)) > 0) {
        /* Our own frames can come back (QEMU's multicast socket backend
         * loops them); nothing we sent is news to us. */
        if (memcmp(rx_frame + 6, net_if.mac, ETH_ALEN) == 0)
            continue;
        uint16_t type = get16(rx_frame + 12);
        if (type == ETHERTYPE_ARP)
            arp_input(rx_frame + ETH_HLEN, (unsigned)len - ETH_HLEN);
        else if (type == ETHERTYPE_IPV4)
            ip_input(rx_frame + ETH_HLEN, (unsigned)len - ETH_HLEN);
    }
    arp_timer();
}

void net_add_due_source(int (*next_due)(uint32_t *due))
{
    for (unsigned i = 0; i < MAX_DUE_SOURCES; i++)
        if (!due_sources[i] || due_sources[i] == next_due) {
            due_sources[i] = next_due;
            return;
        }
}

/* Move *t back to u if u comes first (ms times compare across the wrap). */
static void earliest(uint32_t *t, uint32_t u)
{
    if ((int32_t)(u - *t) < 0)
        *t = u;
}

/* With PRIMASK set, an interrupt that becomes pending still ends the WFI,
 * but cannot run between the check and the WFI and be missed. */
static void sleep_until(uint32_t t)
{
    cpu_irq_disable();
    if (!lan9118_rx_pending() && net_clock_alarm(t))
        cpu_wfi();
    cpu_irq_enable();
}

void net_idle_until(uint32_t until)
{
    uint32_t due = until, t;

    if (arp_next_due(&t))
        earliest(&due, t);
    for (unsigned i = 0; i < MAX_DUE_SOURCES && due_sources[i]; i++)
        if (due_sources[i](&t))
            earliest(&due, t);
    sleep_until(due);
}

void net_idle(void)
{
    sleep_until(net_now_ms() + 1);
}

int eth_send(uint8_t *frame, const uint8_t dst[ETH_ALEN], uint16_t type, unsigned len)
{
    memcpy(frame, dst, ETH_ALEN);
    memcpy(frame + 6, net_if.mac, ETH_ALEN);
    put16(frame + 12, type);
    len += ETH_HLEN;
    /* The chip would pad on the wire; QEMU does not, so pad here and the
     * frames are the same bytes everywhere. */
    while (len < ETH_MIN_FRAME)
        frame[len++] = 0;
    return lan9118_send(frame, len);
}

uint32_t csum_add(uint32_t sum, const uint8_t *p, unsigned len)
{
    /* Four bytes per load (the Cortex-M3 and later load unaligned words):
     * adding little-endian halfwords gives the byte-swapped sum (RFC 1071
     * 2.B), folded and swapped back before it joins the big-endian one. */
    if (len >= 8) {
        uint32_t swapped = 0;
        for (; len >= 4; p += 4, len -= 4) {
            uint32_t w;
            __builtin_memcpy(&w, p, 4);
            swapped += (w & 0xFFFFu) + (w >> 16);
        }
        while (swapped >> 16)
            swapped = (swapped & 0xFFFFu) + (swapped >> 16);
        sum += (swapped >> 8 | swapped << 8) & 0xFFFFu;
    }
    for (; len >= 2; p += 2, len -= 2)
        sum += get16(p);
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ---- text forms ---------------------------------------------------------- */

static char text[4][18];
static unsigned text_next;

static char *put_dec(char *s, unsigned v)
{
    if (v >= 100)
        *s++ = (char)('0' + v / 100);
    if (v >= 10)
        *s++ = (char)('0' + v / 10 % 10);
    *s++ = (char)('0' + v % 10);
    return s;
}

const char *ip_str(uint32_t ip)
{
    char *buf = text[text_next++ % 4], *s = buf;

    for (int shift = 24; shift >= 0; shift -= 8) {
        s = put_dec(s, (ip >> shift) & 0xFF);
        if (shift)
            *s++ = '.';
    }
    *s = 0;
    return buf;
}

const char *mac_str(const uint8_t mac[ETH_ALEN])
{
    static const char hex[] = "0123456789abcdef";
    char *buf = text[text_next++ % 4], *s = buf;

    for (unsigned i = 0; i < ETH_ALEN; i++) {
        *s++ = hex[mac[i] >> 4];
        *s++ = hex[mac[i] & 15];
        if (i < ETH_ALEN - 1)
            *s++ = ':';
    }
    *s = 0;
    return buf;
}
