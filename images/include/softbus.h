/*
 * Soft bus: device discovery and messaging for the network images, in the
 * spirit of a distributed soft bus. Devices announce themselves (name,
 * kind, capabilities) on UDP port 5684, keep a table of the peers they
 * hear, and send each other short text messages. Implemented in
 * lib/net/softbus.c on top of net.h.
 *
 * Wire format: every message is a CoAP message (RFC 7252), POST with an
 * empty token, to the path /sb/<topic>, with a text payload:
 *
 *   byte 0      0x50 NON or 0x40 CON (version 1, type, token length 0);
 *               0x60 for an ACK
 *   byte 1      code: 0x02 POST; in an ACK 0x44 (2.04 Changed, handled)
 *               or 0x84 (4.04 Not Found, nobody handles the topic)
 *   bytes 2-3   message ID, big-endian
 *   options     Uri-Path "sb", Uri-Path <topic> (option 11),
 *               Content-Format 0 = text/plain (option 12, empty value),
 *               Uri-Query "from=<sender name>" (option 15; messages only)
 *   0xFF        payload marker, then the payload (no terminating NUL)
 *
 * Announcement: NON POST /sb/ann, payload "name=<name>;kind=<kind>;caps=<caps>"
 * (e.g. "name=node-3;kind=sensor;caps=temp,hum"; caps is a comma list),
 * sent to 224.0.1.187:5684 (IPv4 "All CoAP Nodes", Ethernet
 * 01:00:5e:00:01:bb) at start and then every SOFTBUS_ANNOUNCE_MS, and sent
 * once unicast to each newly heard peer so both sides meet at once. Bytes:
 *   50 02 <mid> b2 's' 'b' 03 'a' 'n' 'n' 10 ff 'n' 'a' 'm' 'e' '=' ...
 *
 * Message: POST /sb/<topic>?from=<name> to a peer, NON or CON. A CON is
 * answered by an ACK with the same message ID; until one comes the sender
 * retransmits the identical message, waiting 1 s, then 2, 4 and 8 s (as
 * CoAP's ACK_TIMEOUT doubling, without the random factor), and gives up
 * 15 s after the first sending. A receiver hands a retransmission it
 * already handled to no one, but acknowledges it again with the same code.
 *
 * Peer table: keyed by IP address, sorted by it (so printing is
 * deterministic), at most SOFTBUS_MAX_PEERS. An announcement adds or
 * updates a peer; any message from it counts as hearing it; a peer not
 * heard for SOFTBUS_PEER_TIMEOUT_MS is dropped.
 *
 * Identity: name = "<role>-<N>", N the device number: the last byte of the
 * MAC address, in decimal (see net.h); the address is 10.0.0.(N+1). So
 * 52:54:00:12:34:03 is "node-3" at 10.0.0.4, and the first device of an
 * Ensemble scenario (52:54:00:12:34:00) is "hub-0" at 10.0.0.1 if it runs
 * net-hub. QEMU's default MAC 52:54:00:12:34:56 gives "node-86" at
 * 10.0.0.87.
 *
 * Times are virtual under Ensemble and host time under QEMU: nothing that
 * is printed depends on them, only on the order of events.
 */
#ifndef ENSEMBLE_SOFTBUS_H
#define ENSEMBLE_SOFTBUS_H

#include <stdint.h>

#include "net.h"

#define SOFTBUS_PORT             5684
#define SOFTBUS_GROUP            IP4(224, 0, 1, 187)
#define SOFTBUS_ANNOUNCE_MS      1000
#define SOFTBUS_PEER_TIMEOUT_MS  3000
#define SOFTBUS_MAX_PEERS        8
#define SOFTBUS_MAX_TEXT         200   /* payload bytes */

#define SOFTBUS_NAME_LEN  16   /* including the NUL; longer values are cut */
#define SOFTBUS_KIND_LEN  12
#define SOFTBUS_CAPS_LEN  32

/* CoAP response codes (class << 5 | detail) an ACK can carry. */
#define COAP_CHANGED     0x44   /* 2.04 */
#define COAP_NOT_FOUND   0x84   /* 4.04 */

struct softbus_peer {
    char name[SOFTBUS_NAME_LEN];
    char kind[SOFTBUS_KIND_LEN];
    char caps[SOFTBUS_CAPS_LEN];
    uint32_t ip;
    uint32_t last_seen;        /* ms (net_now_ms) */
    uint16_t last_mid;         /* last CON handled from this peer ... */
    uint8_t last_code;         /* ... and the code it was acknowledged with */
    uint8_t have_mid;
};

enum softbus_event { SOFTBUS_JOINED, SOFTBUS_CHANGED, SOFTBUS_LEFT };

struct softbus_callbacks {
    /* The peer table changed; p is valid during the call only. */
    void (*peer)(const struct softbus_peer *p, enum softbus_event ev);
    /*
     * A message arrived. from is the sender's name (its address as text if
     * it sent none), text is NUL-terminated. For a CON the return value is
     * the ACK's code (COAP_CHANGED ...); ignored for a NON.
     */
    uint8_t (*message)(uint32_t src, const char *from, const char *topic,
                       const char *text, int confirmable);
    /* The CON sent with message ID mid was acknowledged with code, or,
     * with code 0, was not acknowledged after every retransmission. */
    void (*acked)(uint16_t mid, uint8_t code);
};

/* Join the group, bind the port and announce from the next softbus_poll.
 * Needs net_init() first. */
void softbus_init(const char *role, const char *kind, const char *caps,
                  const struct softbus_callbacks *cb);
const char *softbus_name(void);

/* Announcements, peer time-outs, retransmissions. Call after net_poll. */
void softbus_poll(void);

/*
 * Send text on topic to ip (NON, or CON with confirmable). Returns the
 * message ID, or -1 if it cannot be sent, in particular while an earlier
 * CON still waits for its ACK (one at a time, as CoAP's NSTART = 1).
 */
int softbus_send(uint32_t ip, const char *topic, const char *text, int confirmable);
int softbus_busy(void);

unsigned softbus_peer_count(void);
const struct softbus_peer *softbus_peer_at(unsigned i);   /* by IP order */
const struct softbus_peer *softbus_find_ip(uint32_t ip);
const struct softbus_peer *softbus_find_kind(const char *kind);

/* Print the table, one line per peer, each line starting with prefix. */
void softbus_print_peers(const char *prefix);

#endif
