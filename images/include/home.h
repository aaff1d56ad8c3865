/*
 * The smart-home protocol spoken by the home-* images (home-phone,
 * home-watch, home-speaker, home-node; scenario images/scenarios/home.toml).
 * Encoding and decoding are static inline functions below, so an image
 * that does not include this header is not affected.
 *
 * ---- Radio -----------------------------------------------------------------
 *
 * IEEE 802.15.4 data frames (include/radio_mac.h: 9-byte MAC header, frame
 * control 0x8841, 16-bit addresses, PAN id compression) on channel 15
 * (HOME_CHANNEL), PAN 0x4E53 (HOME_PAN). A device's short address is its
 * radio EUI (rmac_addr_from_eui): Ensemble scenarios give device i the EUI
 * i + 1, so the home scenario's phone is 1, watch 2, speaker 3 and the
 * sensor nodes 4, 5, 6. Every frame is sent with CSMA-CA (clear channel
 * assessment and a random back-off whose generator is seeded from the
 * EUI, so it is the same on every run).
 *
 * ---- Payload ---------------------------------------------------------------
 *
 * Byte 0 of every payload is HOME_VERSION << 4 | type. Multi-byte numbers
 * are little-endian, text is ASCII without a terminating NUL.
 *
 * Announcement (HOME_ANNOUNCE), broadcast to 0xFFFF once per period:
 *   0      0x11
 *   1      kind: HOME_KIND_PHONE 1, WATCH 2, SPEAKER 3, SENSOR 4
 *   2      flags: HOME_FLAG_PLAYING (bit 0: the speaker is playing),
 *          HOME_FLAG_ALERT (bit 1: the sender shows an alert)
 *   3      period: the sender announces every period * 100 ms
 *   4      n: name length, 1 .. HOME_NAME_MAX (12)
 *   5      name, n bytes ("kitchen")
 *   5+n    r: number of readings, 0 .. HOME_MAX_READINGS (3)
 *   6+n    r readings of 5 bytes: quantity (HOME_Q_*), then the value as
 *          int32 in milli-units, as the sensor hub reports it:
 *          TEMPERATURE 1 (m degC), HUMIDITY 2 (m %RH), LIGHT 3 (m lux),
 *          HEART_RATE 4 (m bpm), STEPS 5 (milli-steps)
 *   at most 6 + 12 + 15 = 33 bytes, 42 with the MAC header: 1.5 ms on air.
 *
 * Command (HOME_COMMAND), unicast to the device that should act:
 *   0      0x12
 *   1      id, 1..255: the sender's command number (0 is never used)
 *   2      text, 1 .. HOME_TEXT_MAX bytes:
 *            "chime"        speaker: play the chime
 *            "blink"        sensor node: blink the LED 3 times
 *            "rate N"       sensor node: announce every N s (1..60)
 *            "msg TEXT"     watch: show TEXT for 5 s, buzz and beep
 *
 * Acknowledgement (HOME_ACK), unicast back to the command's sender:
 *   0      0x13
 *   1      id of the command
 * A receiver acknowledges every command it takes, including repeats, but
 * acts on a command only if its id differs from the last one it took from
 * that sender. The sender repeats a command not acknowledged within
 * HOME_ACK_TIMEOUT_MS, at most HOME_CMD_TRIES times in all.
 *
 * ---- LAN -------------------------------------------------------------------
 *
 * Devices that also have Ethernet (the phone and the speaker) find each
 * other with the soft bus (include/softbus.h: announcements on UDP 5684,
 * kinds "phone" and "speaker") and exchange the same command and ack
 * payloads as UDP datagrams to port HOME_UDP_PORT (5690), source port
 * 5690 too. The phone sends the speaker's commands there while the
 * speaker is a soft-bus peer, and over the radio when it is not, or when
 * the LAN does not acknowledge within HOME_LAN_ACK_TIMEOUT_MS.
 *
 * ---- Timing ----------------------------------------------------------------
 *
 * Devices announce in their own slot: at HOME_SLOT_MS(addr) past each
 * multiple of their period on their own millisecond clock (which starts at
 * reset, so all devices of a scenario share it to within their boot time),
 * so periodic frames do not overlap. A receiver considers a device lost
 * once it has not heard it for HOME_LOST_MS (or 1.5 periods, if longer).
 *
 * Nothing here uses entropy: every choice derives from the EUI or from
 * virtual time, so a scenario runs the same way every time.
 */
#ifndef ENSEMBLE_HOME_H
#define ENSEMBLE_HOME_H

#include <stdint.h>

#define HOME_CHANNEL        15
#define HOME_PAN            0x4E53u
#define HOME_UDP_PORT       5690
#define HOME_VERSION        1

#define HOME_NAME_MAX       12
#define HOME_TEXT_MAX       100
#define HOME_MAX_READINGS   3
#define HOME_MAX_PAYLOAD    (2 + HOME_TEXT_MAX)     /* the longest message */

#define HOME_ACK_TIMEOUT_MS     100
#define HOME_CMD_TRIES          4
#define HOME_LAN_ACK_TIMEOUT_MS 250
#define HOME_LOST_MS            3000
#define HOME_SLOT_MS(addr)      (50u + 100u * ((unsigned)(addr) % 10u))

/* Wall clock shown by the phone and the watch: virtual time since reset,
 * starting at 18:30:00. */
#define HOME_CLOCK_START_S  (18u * 3600u + 30u * 60u)

enum home_type {
    HOME_ANNOUNCE = 1,
    HOME_COMMAND = 2,
    HOME_ACK = 3,
};

enum home_kind {
    HOME_KIND_PHONE = 1,
    HOME_KIND_WATCH = 2,
    HOME_KIND_SPEAKER = 3,
    HOME_KIND_SENSOR = 4,
};

#define HOME_FLAG_PLAYING 0x01u
#define HOME_FLAG_ALERT   0x02u

enum home_quantity {
    HOME_Q_TEMPERATURE = 1,
    HOME_Q_HUMIDITY = 2,
    HOME_Q_LIGHT = 3,
    HOME_Q_HEART_RATE = 4,
    HOME_Q_STEPS = 5,
};

struct home_reading {
    uint8_t quantity;       /* HOME_Q_* */
    int32_t value;          /* milli-units */
};

struct home_announce {
    uint8_t kind;           /* HOME_KIND_* */
    uint8_t flags;          /* HOME_FLAG_* */
    uint8_t period;         /* 100 ms units */
    char name[HOME_NAME_MAX + 1];
    uint8_t count;          /* readings */
    struct home_reading reading[HOME_MAX_READINGS];
};

static inline uint8_t home_header(enum home_type t)
{
    return (uint8_t)(HOME_VERSION << 4 | t);
}

/* The type of a payload, or 0 if it is not one of ours. */
static inline int home_type(const uint8_t *p, unsigned len)
{
    if (len < 2 || p[0] >> 4 != HOME_VERSION)
        return 0;
    unsigned t = p[0] & 15u;
    return t >= HOME_ANNOUNCE && t <= HOME_ACK ? (int)t : 0;
}

static inline void home_put32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

static inline int32_t home_get32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

/* Encode an announcement into buf (HOME_MAX_PAYLOAD bytes); returns its length. */
static inline unsigned home_encode_announce(uint8_t *buf, const struct home_announce *a)
{
    unsigned n = 0, i = 0;

    while (n < HOME_NAME_MAX && a->name[n])
        n++;
    buf[i++] = home_header(HOME_ANNOUNCE);
    buf[i++] = a->kind;
    buf[i++] = a->flags;
    buf[i++] = a->period;
    buf[i++] = (uint8_t)n;
    for (unsigned k = 0; k < n; k++)
        buf[i++] = (uint8_t)a->name[k];
    unsigned r = a->count > HOME_MAX_READINGS ? HOME_MAX_READINGS : a->count;
    buf[i++] = (uint8_t)r;
    for (unsigned k = 0; k < r; k++) {
        buf[i++] = a->reading[k].quantity;
        home_put32(&buf[i], a->reading[k].value);
        i += 4;
    }
    return i;
}

/* Decode an announcement: 0, or -1 if it is malformed. */
static inline int home_decode_announce(const uint8_t *p, unsigned len, struct home_announce *a)
{
    if (home_type(p, len) != HOME_ANNOUNCE || len < 6)
        return -1;
    a->kind = p[1];
    a->flags = p[2];
    a->period = p[3];
    unsigned n = p[4];
    if (n < 1 || n > HOME_NAME_MAX || len < 6 + n)
        return -1;
    for (unsigned k = 0; k < n; k++) {
        char c = (char)p[5 + k];
        a->name[k] = c >= ' ' && c <= '~' ? c : '?';
    }
    a->name[n] = 0;
    unsigned r = p[5 + n];
    if (r > HOME_MAX_READINGS || len < 6 + n + 5 * r)
        return -1;
    a->count = (uint8_t)r;
    for (unsigned k = 0; k < r; k++) {
        const uint8_t *q = &p[6 + n + 5 * k];
        a->reading[k].quantity = q[0];
        a->reading[k].value = home_get32(q + 1);
    }
    return 0;
}

/* Encode a command (text cut at HOME_TEXT_MAX); returns its length. */
static inline unsigned home_encode_command(uint8_t *buf, uint8_t id, const char *text)
{
    unsigned i = 0;

    buf[i++] = home_header(HOME_COMMAND);
    buf[i++] = id;
    for (unsigned k = 0; k < HOME_TEXT_MAX && text[k]; k++)
        buf[i++] = (uint8_t)text[k];
    return i;
}

/* Decode a command into *id and text (HOME_TEXT_MAX + 1 bytes, NUL-terminated):
 * 0, or -1 if it is malformed. */
static inline int home_decode_command(const uint8_t *p, unsigned len, uint8_t *id, char *text)
{
    if (home_type(p, len) != HOME_COMMAND || len < 3 || p[1] == 0 || len - 2 > HOME_TEXT_MAX)
        return -1;
    *id = p[1];
    for (unsigned k = 0; k < len - 2; k++) {
        char c = (char)p[2 + k];
        text[k] = c >= ' ' && c <= '~' ? c : '?';
    }
    text[len - 2] = 0;
    return 0;
}

static inline unsigned home_encode_ack(uint8_t *buf, uint8_t id)
{
    buf[0] = home_header(HOME_ACK);
    buf[1] = id;
    return 2;
}

/* The id an acknowledgement carries, or 0 if p is not one. */
static inline uint8_t home_decode_ack(const uint8_t *p, unsigned len)
{
    return home_type(p, len) == HOME_ACK ? p[1] : 0;
}

/* The first reading of quantity q: 1 and *v, or 0 if there is none. */
static inline int home_find_reading(const struct home_announce *a, uint8_t q, int32_t *v)
{
    for (unsigned k = 0; k < a->count; k++)
        if (a->reading[k].quantity == q) {
            *v = a->reading[k].value;
            return 1;
        }
    return 0;
}

#endif
