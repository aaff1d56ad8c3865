/*
 * Interfaces between the files of lib/net (not for images): byte-order
 * helpers, the Internet checksum, and each layer's input and timer entry
 * points.
 */
#ifndef ENSEMBLE_NET_INTERNAL_H
#define ENSEMBLE_NET_INTERNAL_H

#include <stdint.h>

#include "net.h"

/* Network byte order, one byte at a time: packets are byte arrays with no
 * alignment guarantee, so no casts to wider types. */
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}

/* RFC 1071 checksum: add 16-bit big-endian words (an odd last byte is the
 * high half of a word) into a 32-bit sum, then fold and complement. */
uint32_t csum_add(uint32_t sum, const uint8_t *p, unsigned len);
uint16_t csum_fold(uint32_t sum);

extern const uint8_t eth_broadcast[ETH_ALEN];

/*
 * Send the frame at `frame`, whose payload (len bytes) is already at
 * frame + ETH_HLEN: fill in the header, pad to the 60-byte minimum (the
 * buffer must have room for it) and hand it to the controller.
 */
int eth_send(uint8_t *frame, const uint8_t dst[ETH_ALEN], uint16_t type, unsigned len);

/* Is ip one of ours: our address, a broadcast, or a joined group? */
int net_accepts(uint32_t ip);

/* Set the clock's alarm for ms t and return 1, or return 0 if t has
 * already come. PRIMASK must be set (the caller sleeps after it). */
int net_clock_alarm(uint32_t t);

/* ARP */
void arp_input(const uint8_t *pkt, unsigned len);
void arp_timer(void);
/* When arp_timer next has something to do (1), or nothing pending (0). */
int arp_next_due(uint32_t *due);
void arp_announce(void);
int arp_lookup(uint32_t ip, uint8_t mac[ETH_ALEN]);
/* Hold an IP packet until next_hop resolves (then it is sent) or fails. */
int arp_queue(uint32_t next_hop, const uint8_t *ip_packet, unsigned len);

/* IPv4 */
void ip_input(const uint8_t *pkt, unsigned len);

#endif
