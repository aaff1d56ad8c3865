/*
 * IPv4 (RFC 791) without options or fragmentation, ICMP echo (RFC 792) in
 * both directions, and UDP (RFC 768) with a few port handlers.
 *
 * Packets we send carry DF and are never larger than the MTU; received
 * fragments are dropped, since nothing here needs datagrams larger than a
 * frame. Received options are skipped.
 */
#include <stdint.h>
#include <string.h>

#include "net.h"
#include "net_internal.h"

#define IP_FLAG_DF      0x4000
#define IP_FLAG_MF      0x2000
#define IP_OFFSET_MASK  0x1FFF
#define IP_TTL          64
#define IP_TTL_MCAST    1          /* group traffic stays on the link */

#define ICMP_ECHO_REPLY   0
#define ICMP_ECHO_REQUEST 8
#define ICMP_HLEN         8

#define UDP_PORTS       4

static uint16_t ip_id;

/* ---- IPv4 ---------------------------------------------------------------- */

int ip_send(uint32_t dst, uint8_t proto, const void *payload, unsigned len)
{
    static uint8_t frame[ETH_HLEN + NET_MTU];
    uint8_t *ip = frame + ETH_HLEN;
    uint8_t mac[ETH_ALEN];

    if (len > NET_MTU - IP_HLEN || dst == net_if.ip)
        return -1;
    ip[0] = 0x45;                   /* version 4, 5 header words */
    ip[1] = 0;                      /* DSCP/ECN */
    put16(ip + 2, (uint16_t)(IP_HLEN + len));
    put16(ip + 4, ++ip_id);
    put16(ip + 6, IP_FLAG_DF);
    ip[8] = IP4_IS_MULTICAST(dst) ? IP_TTL_MCAST : IP_TTL;
    ip[9] = proto;
    put16(ip + 10, 0);
    put32(ip + 12, net_if.ip);
    put32(ip + 16, dst);
    put16(ip + 10, csum_fold(csum_add(0, ip, IP_HLEN)));
    memcpy(ip + IP_HLEN, payload, len);

    if (dst == IP4_BROADCAST || dst == (net_if.ip | ~net_if.netmask))
        return eth_send(frame, eth_broadcast, ETHERTYPE_IPV4, IP_HLEN + len);
    if (IP4_IS_MULTICAST(dst)) {
        /* RFC 1112: 01:00:5e followed by the group's low 23 bits. */
        uint8_t group[ETH_ALEN] = {0x01, 0x00, 0x5E, (uint8_t)((dst >> 16) & 0x7F),
                                   (uint8_t)(dst >> 8), (uint8_t)dst};
        return eth_send(frame, group, ETHERTYPE_IPV4, IP_HLEN + len);
    }
    uint32_t hop = ((dst ^ net_if.ip) & net_if.netmask) == 0 ? dst : net_if.gateway;
    if (!hop)
        return -1;
    if (arp_lookup(hop, mac))
        return eth_send(frame, mac, ETHERTYPE_IPV4, IP_HLEN + len);
    return arp_queue(hop, ip, IP_HLEN + len);
}

/* ---- ICMP echo ----------------------------------------------------------- */

static icmp_reply_fn reply_fn;

void icmp_on_reply(icmp_reply_fn fn)
{
    reply_fn = fn;
}

/* The data of our echo requests: recognisable in a capture, and checked
 * when it comes back. */
static uint8_t ping_byte(unsigned i)
{
    return (uint8_t)('a' + i % 26);
}

int icmp_ping(uint32_t dst, uint16_t id, uint16_t seq, unsigned len)
{
    static uint8_t msg[NET_MTU - IP_HLEN];

    if (len > sizeof msg - ICMP_HLEN)
        return -1;
    msg[0] = ICMP_ECHO_REQUEST;
    msg[1] = 0;
    put16(msg + 2, 0);
    put16(msg + 4, id);
    put16(msg + 6, seq);
    for (unsigned i = 0; i < len; i++)
        msg[ICMP_HLEN + i] = ping_byte(i);
    put16(msg + 2, csum_fold(csum_add(0, msg, ICMP_HLEN + len)));
    return ip_send(dst, IP_PROTO_ICMP, msg, ICMP_HLEN + len);
}

static void icmp_input(uint32_t src, uint32_t dst, uint8_t ttl, const uint8_t *p, unsigned len)
{
    static uint8_t reply[NET_MTU - IP_HLEN];

    if (len < ICMP_HLEN || csum_fold(csum_add(0, p, len)) != 0)
        return;
    if (p[0] == ICMP_ECHO_REQUEST && p[1] == 0) {
        /* Only unicast requests are answered (RFC 1122 allows silence
         * for broadcast ones, and it avoids reply storms). */
        if (dst != net_if.ip)
            return;
        memcpy(reply, p, len);
        reply[0] = ICMP_ECHO_REPLY;
        put16(reply + 2, 0);
        put16(reply + 2, csum_fold(csum_add(0, reply, len)));
        ip_send(src, IP_PROTO_ICMP, reply, len);
    } else if (p[0] == ICMP_ECHO_REPLY && reply_fn) {
        int ok = 1;
        for (unsigned i = ICMP_HLEN; i < len; i++)
            ok &= p[i] == ping_byte(i - ICMP_HLEN);
        reply_fn(src, get16(p + 4), get16(p + 6), len - ICMP_HLEN, ttl, ok);
    }
}

/* ---- UDP ----------------------------------------------------------------- */

static struct {
    uint16_t port;
    udp_handler_fn fn;
} ports[UDP_PORTS];

int udp_bind(uint16_t port, udp_handler_fn fn)
{
    for (unsigned i = 0; i < UDP_PORTS; i++) {
        if (!ports[i].fn || ports[i].port == port) {
            ports[i].port = port;
            ports[i].fn = fn;
            return 0;
        }
    }
    return -1;
}

/* The checksum covers a pseudo-header: both addresses, protocol, length. */
static uint32_t udp_pseudo_sum(uint32_t src, uint32_t dst, unsigned len)
{
    uint8_t ph[12];

    put32(ph, src);
    put32(ph + 4, dst);
    ph[8] = 0;
    ph[9] = IP_PROTO_UDP;
    put16(ph + 10, (uint16_t)len);
    return csum_add(0, ph, sizeof ph);
}

int udp_send(uint32_t dst, uint16_t src_port, uint16_t dst_port, const void *data, unsigned len)
{
    static uint8_t dgram[UDP_HLEN + UDP_MAX_PAYLOAD];

    if (len > UDP_MAX_PAYLOAD)
        return -1;
    put16(dgram, src_port);
    put16(dgram + 2, dst_port);
    put16(dgram + 4, (uint16_t)(UDP_HLEN + len));
    put16(dgram + 6, 0);
    memcpy(dgram + UDP_HLEN, data, len);
    uint16_t sum = csum_fold(csum_add(udp_pseudo_sum(net_if.ip, dst, UDP_HLEN + len),
                                      dgram, UDP_HLEN + len));
    put16(dgram + 6, sum ? sum : 0xFFFF);   /* 0 would mean "no checksum" */
    return ip_send(dst, IP_PROTO_UDP, dgram, UDP_HLEN + len);
}

static void udp_input(uint32_t src, uint32_t dst, const uint8_t *p, unsigned len)
{
    if (len < UDP_HLEN)
        return;
    unsigned ulen = get16(p + 4);
    if (ulen < UDP_HLEN || ulen > len)
        return;
    if (get16(p + 6) != 0 &&
        csum_fold(csum_add(udp_pseudo_sum(src, dst, ulen), p, ulen)) != 0)
        return;
    uint16_t port = get16(p + 2);
    for (unsigned i = 0; i < UDP_PORTS; i++)
        if (ports[i].fn && ports[i].port == port) {
            ports[i].fn(src, get16(p), dst, p + UDP_HLEN, ulen - UDP_HLEN);
            return;
        }
}

/* ---- input --------------------------------------------------------------- */

void ip_input(const uint8_t *p, unsigned len)
{
    if (len < IP_HLEN || (p[0] >> 4) != 4)
        return;
    unsigned hlen = (p[0] & 15u) * 4u;
    unsigned total = get16(p + 2);
    /* total < len is normal: short frames arrive padded to 60 bytes. */
    if (hlen < IP_HLEN || total < hlen || total > len)
        return;
    if (csum_fold(csum_add(0, p, hlen)) != 0)
        return;
    if (get16(p + 6) & (IP_FLAG_MF | IP_OFFSET_MASK))
        return;
    uint32_t src = get32(p + 12), dst = get32(p + 16);
    if (!net_accepts(dst))
        return;
    if (p[9] == IP_PROTO_ICMP)
        icmp_input(src, dst, p[8], p + hlen, total - hlen);
    else if (p[9] == IP_PROTO_UDP)
        udp_input(src, dst, p + hlen, total - hlen);
}
