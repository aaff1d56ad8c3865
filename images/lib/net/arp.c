/*
 * ARP (RFC 826) for IPv4 over Ethernet: a small cache, requests with two
 * retries, replies, the gratuitous announcement at start-up (RFC 5227's
 * "ARP Announcement": a request with our address as both sender and
 * target), and a short queue of IP packets waiting for a reply.
 *
 * Entries do not age: a device that changes its MAC address announces the
 * change, and any ARP packet from a known address updates its entry. When
 * the cache is full the least recently used resolved entry goes.
 */
#include <stdint.h>
#include <string.h>

#include "net.h"
#include "net_internal.h"

#define ARP_ENTRIES   8
#define ARP_TRIES     3          /* requests before giving up */
#define ARP_RETRY_MS  1000
#define ARP_LEN       28         /* Ethernet/IPv4 ARP packet */
#define ARP_REQUEST   1
#define ARP_REPLY     2

/* Packets waiting for resolution: a few, of any size (6 KiB of RAM). */
#define QUEUE_SLOTS   4
#define QUEUE_MAX     NET_MTU

enum arp_state { ARP_FREE, ARP_PENDING, ARP_RESOLVED };

struct arp_entry {
    uint32_t ip;
    uint8_t mac[ETH_ALEN];
    uint8_t state;
    uint8_t tries;
    uint32_t next_try;     /* ms, while pending */
    uint32_t last_use;     /* use counter (not time), for eviction */
};

struct queued_packet {
    uint32_t next_hop;
    uint32_t order;        /* send in the order queued */
    uint16_t len;          /* 0: slot free */
    uint8_t frame[ETH_HLEN + QUEUE_MAX];
};

static struct arp_entry cache[ARP_ENTRIES];
static struct queued_packet queue[QUEUE_SLOTS];
static uint32_t use_counter, queue_counter;
/* No pending entry retries before timer_due (while timer_armed): most
 * calls of arp_timer look at nothing else. A resolved entry can leave it
 * early, which only costs one look at the cache. */
static uint32_t timer_due;
static int timer_armed;

static void arp_send(uint16_t op, const uint8_t tha[ETH_ALEN], uint32_t tpa,
                     const uint8_t dst[ETH_ALEN])
{
    static uint8_t frame[ETH_MIN_FRAME];
    uint8_t *p = frame + ETH_HLEN;

    put16(p, 1);                    /* hardware: Ethernet */
    put16(p + 2, ETHERTYPE_IPV4);   /* protocol: IPv4 */
    p[4] = ETH_ALEN;
    p[5] = 4;
    put16(p + 6, op);
    memcpy(p + 8, net_if.mac, ETH_ALEN);
    put32(p + 14, net_if.ip);
    memcpy(p + 18, tha, ETH_ALEN);
    put32(p + 24, tpa);
    eth_send(frame, dst, ETHERTYPE_ARP, ARP_LEN);
}

static void send_request(uint32_t ip)
{
    static const uint8_t unknown[ETH_ALEN];
    arp_send(ARP_REQUEST, unknown, ip, eth_broadcast);
}

void arp_announce(void)
{
    static const uint8_t unknown[ETH_ALEN];
    arp_send(ARP_REQUEST, unknown, net_if.ip, eth_broadcast);
}

static struct arp_entry *find(uint32_t ip)
{
    for (unsigned i = 0; i < ARP_ENTRIES; i++)
        if (cache[i].state != ARP_FREE && cache[i].ip == ip)
            return &cache[i];
    return 0;
}

/* A free entry, else the least recently used one (resolved ones first). */
static struct arp_entry *allocate(void)
{
    struct arp_entry *victim = 0;

    for (unsigned i = 0; i < ARP_ENTRIES; i++) {
        struct arp_entry *e = &cache[i];
        if (e->state == ARP_FREE)
            return e;
        if (!victim || (e->state == ARP_RESOLVED && victim->state == ARP_PENDING) ||
            (e->state == victim->state && e->last_use < victim->last_use))
            victim = e;
    }
    return victim;
}

static void drop_queued(uint32_t ip)
{
    for (unsigned i = 0; i < QUEUE_SLOTS; i++)
        if (queue[i].len && queue[i].next_hop == ip)
            queue[i].len = 0;
}

static void resolved(struct arp_entry *e, uint32_t ip, const uint8_t mac[ETH_ALEN])
{
    e->ip = ip;
    memcpy(e->mac, mac, ETH_ALEN);
    e->state = ARP_RESOLVED;
    e->last_use = ++use_counter;

    /* Send what waited for this address, oldest first. */
    for (;;) {
        struct queued_packet *next = 0;
        for (unsigned i = 0; i < QUEUE_SLOTS; i++)
            if (queue[i].len && queue[i].next_hop == ip &&
                (!next || queue[i].order < next->order))
                next = &queue[i];
        if (!next)
            break;
        eth_send(next->frame, mac, ETHERTYPE_IPV4, next->len);
        next->len = 0;
    }
}

void arp_input(const uint8_t *p, unsigned len)
{
    if (len < ARP_LEN || get16(p) != 1 || get16(p + 2) != ETHERTYPE_IPV4 ||
        p[4] != ETH_ALEN || p[5] != 4)
        return;
    uint16_t op = get16(p + 6);
    const uint8_t *sha = p + 8;
    uint32_t spa = get32(p + 14), tpa = get32(p + 24);

    /* Probes (sender 0.0.0.0) teach nothing; a packet claiming our own
     * address is a conflict we do not try to resolve. */
    if (spa == 0 || spa == net_if.ip)
        return;

    /* RFC 826: update the sender if known; add it if the packet is for
     * us, since we are about to talk to it anyway. */
    struct arp_entry *e = find(spa);
    if (e)
        resolved(e, spa, sha);
    if (tpa != net_if.ip)
        return;
    if (!e) {
        e = allocate();
        if (e->state == ARP_PENDING)
            drop_queued(e->ip);
        resolved(e, spa, sha);
    }
    if (op == ARP_REQUEST)
        arp_send(ARP_REPLY, sha, spa, sha);
}

int arp_lookup(uint32_t ip, uint8_t mac[ETH_ALEN])
{
    struct arp_entry *e = find(ip);

    if (!e || e->state != ARP_RESOLVED)
        return 0;
    e->last_use = ++use_counter;
    if (mac)
        memcpy(mac, e->mac, ETH_ALEN);
    return 1;
}

int arp_resolve(uint32_t ip, uint8_t mac[ETH_ALEN])
{
    if (arp_lookup(ip, mac))
        return 1;
    if (find(ip))
        return 0;           /* already asking */
    struct arp_entry *e = allocate();
    if (e->state == ARP_PENDING)
        drop_queued(e->ip);
    e->ip = ip;
    e->state = ARP_PENDING;
    e->tries = 1;
    e->next_try = net_now_ms() + ARP_RETRY_MS;
    if (!timer_armed || (int32_t)(e->next_try - timer_due) < 0)
        timer_due = e->next_try;
    timer_armed = 1;
    e->last_use = ++use_counter;
    send_request(ip);
    return 0;
}

int arp_queue(uint32_t next_hop, const uint8_t *ip_packet, unsigned len)
{
    struct queued_packet *slot = 0;

    for (unsigned i = 0; i < QUEUE_SLOTS && !slot; i++)
        if (!queue[i].len)
            slot = &queue[i];
    /* Resolve even if the packet cannot wait: the next one may be sent. */
    arp_resolve(next_hop, 0);
    if (!slot || len > QUEUE_MAX)
        return -1;
    slot->next_hop = next_hop;
    slot->order = ++queue_counter;
    slot->len = (uint16_t)len;
    memcpy(slot->frame + ETH_HLEN, ip_packet, len);
    return 0;
}

void arp_timer(void)
{
    if (!timer_armed || !net_time_reached(timer_due))
        return;
    uint32_t now = net_now_ms();
    timer_armed = 0;
    for (unsigned i = 0; i < ARP_ENTRIES; i++) {
        struct arp_entry *e = &cache[i];
        if (e->state != ARP_PENDING)
            continue;
        if ((int32_t)(now - e->next_try) >= 0) {
            if (e->tries < ARP_TRIES) {
                e->tries++;
                e->next_try += ARP_RETRY_MS;
                send_request(e->ip);
            } else {
                drop_queued(e->ip);
                e->state = ARP_FREE;
                continue;
            }
        }
        if (!timer_armed || (int32_t)(e->next_try - timer_due) < 0)
            timer_due = e->next_try;
        timer_armed = 1;
    }
}

int arp_next_due(uint32_t *due)
{
    *due = timer_due;
    return timer_armed;
}
