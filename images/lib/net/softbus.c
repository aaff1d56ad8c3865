/*
 * The soft bus: CoAP-format announcements and messages on UDP 5684 and the
 * peer table. The format and the rules are in include/softbus.h.
 */
#include <stdint.h>
#include <string.h>

#include "console.h"
#include "net.h"
#include "softbus.h"

#define COAP_VERSION      1
#define COAP_CON          0
#define COAP_NON          1
#define COAP_ACK          2
#define COAP_RST          3
#define COAP_POST         0x02
#define COAP_PAYLOAD_MARK 0xFF

#define OPT_URI_PATH       11
#define OPT_CONTENT_FORMAT 12
#define OPT_URI_QUERY      15

#define ACK_TIMEOUT_MS     1000
#define MAX_RETRANSMIT     3
#define MSG_MAX            (4 + 64 + SOFTBUS_MAX_TEXT)   /* header, options, payload */

static char my_name[SOFTBUS_NAME_LEN];
static char announcement[80];           /* "name=...;kind=...;caps=..." */
static struct softbus_callbacks cbs;

static struct softbus_peer peers[SOFTBUS_MAX_PEERS];
static unsigned peer_count;

static uint16_t next_mid;
static uint32_t next_announce;
/* No peer times out before next_expiry (while peer_count > 0): hearing a
 * peer only moves its own time-out later, so the table is walked only
 * when the earliest one may have come. */
static uint32_t next_expiry;

/* The CON in flight (at most one). */
static struct {
    int active;
    uint32_t dst;
    uint16_t mid;
    unsigned retries;
    uint32_t timeout, deadline;
    unsigned len;
    uint8_t msg[MSG_MAX];
} con;

/* ---- small string helpers (no libc here) ------------------------------- */

static unsigned str_len(const char *s)
{
    unsigned n = 0;
    while (s[n])
        n++;
    return n;
}

/* Copy at most n bytes of src into dst[size], always NUL-terminated. */
static void copy_text(char *dst, unsigned size, const char *src, unsigned n)
{
    if (n > size - 1)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static char *append(char *p, const char *end, const char *s)
{
    while (*s && p < end)
        *p++ = *s++;
    return p;
}

/* ---- CoAP encoding ------------------------------------------------------- */

/* An option's delta or length: values from 13 on continue in 1 or 2
 * extension bytes after the option's first byte. */
static unsigned nibble(unsigned v)
{
    return v < 13 ? v : v < 269 ? 13 : 14;
}

static uint8_t *put_ext(uint8_t *p, unsigned v)
{
    if (v >= 269) {
        v -= 269;
        *p++ = (uint8_t)(v >> 8);
        *p++ = (uint8_t)v;
    } else if (v >= 13) {
        *p++ = (uint8_t)(v - 13);
    }
    return p;
}

static uint8_t *put_option(uint8_t *p, unsigned *last, unsigned number,
                           const char *value, unsigned len)
{
    unsigned delta = number - *last;

    *last = number;
    *p++ = (uint8_t)(nibble(delta) << 4 | nibble(len));
    p = put_ext(p, delta);
    p = put_ext(p, len);
    memcpy(p, value, len);
    return p + len;
}

/* Encode POST /sb/<topic>[?from=<our name>] with text; returns the length. */
static unsigned encode(uint8_t *msg, unsigned type, uint16_t mid, const char *topic,
                       int with_from, const char *text)
{
    uint8_t *p = msg;
    unsigned last = 0;

    *p++ = (uint8_t)(COAP_VERSION << 6 | type << 4);   /* token length 0 */
    *p++ = COAP_POST;
    *p++ = (uint8_t)(mid >> 8);
    *p++ = (uint8_t)mid;
    p = put_option(p, &last, OPT_URI_PATH, "sb", 2);
    p = put_option(p, &last, OPT_URI_PATH, topic, str_len(topic));
    p = put_option(p, &last, OPT_CONTENT_FORMAT, "", 0);   /* 0 = text/plain */
    if (with_from) {
        char query[5 + SOFTBUS_NAME_LEN];
        memcpy(query, "from=", 5);
        unsigned n = str_len(my_name);
        memcpy(query + 5, my_name, n);
        p = put_option(p, &last, OPT_URI_QUERY, query, 5 + n);
    }
    unsigned n = str_len(text);
    if (n) {   /* RFC 7252: no marker before an empty payload */
        *p++ = COAP_PAYLOAD_MARK;
        memcpy(p, text, n);
        p += n;
    }
    return (unsigned)(p - msg);
}

static void send_ack(uint32_t dst, uint16_t src_port, uint16_t mid, uint8_t code)
{
    uint8_t ack[4] = {COAP_VERSION << 6 | COAP_ACK << 4, code, (uint8_t)(mid >> 8), (uint8_t)mid};
    udp_send(dst, SOFTBUS_PORT, src_port, ack, sizeof ack);
}

/* ---- CoAP decoding ------------------------------------------------------- */

struct coap_msg {
    unsigned type;
    uint8_t code;
    uint16_t mid;
    char path[24];          /* Uri-Path segments joined with '/' */
    char from[SOFTBUS_NAME_LEN];
    /* The payload, in the packet (copied into text only when used). */
    const uint8_t *payload;
    unsigned payload_len;
    char text[SOFTBUS_MAX_TEXT + 1];
};

static int get_ext(const uint8_t *p, unsigned len, unsigned *i, unsigned *v)
{
    if (*v == 15)
        return -1;
    if (*v == 13) {
        if (*i + 1 > len)
            return -1;
        *v = 13u + p[(*i)++];
    } else if (*v == 14) {
        if (*i + 2 > len)
            return -1;
        *v = 269u + ((unsigned)p[*i] << 8 | p[*i + 1]);
        *i += 2;
    }
    return 0;
}

static int decode(const uint8_t *p, unsigned len, struct coap_msg *m)
{
    if (len < 4 || p[0] >> 6 != COAP_VERSION || (p[0] & 15) > 8)
        return -1;
    m->type = (p[0] >> 4) & 3;
    m->code = p[1];
    m->mid = (uint16_t)(p[2] << 8 | p[3]);
    m->path[0] = m->from[0] = m->text[0] = 0;
    m->payload_len = 0;

    unsigned i = 4 + (p[0] & 15u);   /* skip the token */
    unsigned number = 0, path_len = 0;
    while (i < len) {
        if (p[i] == COAP_PAYLOAD_MARK) {
            i++;
            m->payload = p + i;
            m->payload_len = len - i;
            return i < len ? 0 : -1;   /* a marker needs a payload */
        }
        unsigned delta = p[i] >> 4, olen = p[i] & 15u;
        i++;
        if (get_ext(p, len, &i, &delta) < 0 || get_ext(p, len, &i, &olen) < 0 || i + olen > len)
            return -1;
        number += delta;
        const char *value = (const char *)p + i;
        if (number == OPT_URI_PATH && path_len + 1 + olen < sizeof m->path) {
            if (path_len)
                m->path[path_len++] = '/';
            memcpy(m->path + path_len, value, olen);
            path_len += olen;
            m->path[path_len] = 0;
        } else if (number == OPT_URI_QUERY && olen > 5 && memcmp(value, "from=", 5) == 0) {
            copy_text(m->from, sizeof m->from, value + 5, olen - 5);
        }
        i += olen;
    }
    return 0;
}

/* ---- peer table ---------------------------------------------------------- */

static int find_index(uint32_t ip)
{
    for (unsigned i = 0; i < peer_count; i++)
        if (peers[i].ip == ip)
            return (int)i;
    return -1;
}

const struct softbus_peer *softbus_find_ip(uint32_t ip)
{
    int i = find_index(ip);
    return i < 0 ? 0 : &peers[i];
}

const struct softbus_peer *softbus_find_kind(const char *kind)
{
    for (unsigned i = 0; i < peer_count; i++)
        if (str_eq(peers[i].kind, kind))
            return &peers[i];
    return 0;
}

unsigned softbus_peer_count(void)
{
    return peer_count;
}

const struct softbus_peer *softbus_peer_at(unsigned i)
{
    return i < peer_count ? &peers[i] : 0;
}

/* Value of key in "k=v;k=v" text, copied into out[size]. */
static void field(const char *text, const char *key, char *out, unsigned size)
{
    unsigned klen = str_len(key);

    out[0] = 0;
    for (const char *s = text; *s;) {
        const char *end = s;
        while (*end && *end != ';')
            end++;
        if ((unsigned)(end - s) > klen && memcmp(s, key, klen) == 0 && s[klen] == '=') {
            copy_text(out, size, s + klen + 1, (unsigned)(end - s) - klen - 1);
            return;
        }
        s = *end ? end + 1 : end;
    }
}

static void send_announcement(uint32_t dst)
{
    uint8_t msg[MSG_MAX];
    unsigned len = encode(msg, COAP_NON, next_mid++, "ann", 0, announcement);
    udp_send(dst, SOFTBUS_PORT, SOFTBUS_PORT, msg, len);
}

static void announced(uint32_t src, const char *text)
{
    struct softbus_peer n = {0};

    field(text, "name", n.name, sizeof n.name);
    field(text, "kind", n.kind, sizeof n.kind);
    field(text, "caps", n.caps, sizeof n.caps);
    if (!n.name[0])
        return;
    n.ip = src;
    n.last_seen = net_now_ms();

    int i = find_index(src);
    if (i >= 0) {
        struct softbus_peer *p = &peers[i];
        int changed = !str_eq(p->name, n.name) || !str_eq(p->kind, n.kind) ||
                      !str_eq(p->caps, n.caps);
        memcpy(p->name, n.name, sizeof n.name);
        memcpy(p->kind, n.kind, sizeof n.kind);
        memcpy(p->caps, n.caps, sizeof n.caps);
        p->last_seen = n.last_seen;
        if (changed && cbs.peer)
            cbs.peer(p, SOFTBUS_CHANGED);
        return;
    }
    if (peer_count == SOFTBUS_MAX_PEERS)
        return;
    if (peer_count == 0)
        next_expiry = n.last_seen + SOFTBUS_PEER_TIMEOUT_MS;
    /* Insert in address order. */
    unsigned at = 0;
    while (at < peer_count && peers[at].ip < src)
        at++;
    memmove(&peers[at + 1], &peers[at], (peer_count - at) * sizeof peers[0]);
    peers[at] = n;
    peer_count++;
    /* Tell the newcomer about us now rather than at our next period. */
    send_announcement(src);
    if (cbs.peer)
        cbs.peer(&peers[at], SOFTBUS_JOINED);
}

static void expire_peers(void)
{
    if (peer_count == 0 || !net_time_reached(next_expiry))
        return;
    uint32_t now = net_now_ms();
    int first = 1;
    for (unsigned i = 0; i < peer_count;) {
        uint32_t end = peers[i].last_seen + SOFTBUS_PEER_TIMEOUT_MS;
        if ((int32_t)(now - end) < 0) {
            if (first || (int32_t)(end - next_expiry) < 0)
                next_expiry = end;
            first = 0;
            i++;
            continue;
        }
        struct softbus_peer gone = peers[i];
        peer_count--;
        memmove(&peers[i], &peers[i + 1], (peer_count - i) * sizeof peers[0]);
        if (cbs.peer)
            cbs.peer(&gone, SOFTBUS_LEFT);
    }
}

void softbus_print_peers(const char *prefix)
{
    for (unsigned i = 0; i < peer_count; i++)
        con_printf("%s%s %s kind=%s caps=%s\n", prefix, peers[i].name,
                   ip_str(peers[i].ip), peers[i].kind, peers[i].caps);
}

/* ---- receive ------------------------------------------------------------- */

static void received(uint32_t src, uint16_t src_port, uint32_t dst,
                     const uint8_t *data, unsigned len)
{
    static struct coap_msg m;
    (void)dst;

    if (decode(data, len, &m) < 0)
        return;

    if (m.type == COAP_ACK || m.type == COAP_RST) {
        if (con.active && src == con.dst && m.mid == con.mid) {
            con.active = 0;
            if (cbs.acked)
                cbs.acked(m.mid, m.type == COAP_ACK ? m.code : 0);
        }
        return;
    }

    int is_con = m.type == COAP_CON;
    int known = find_index(src);
    if (m.code != COAP_POST || memcmp(m.path, "sb/", 3) != 0 || !m.path[3]) {
        if (is_con)
            send_ack(src, src_port, m.mid, COAP_NOT_FOUND);
        return;
    }
    const char *topic = m.path + 3;
    if (str_eq(topic, "ann")) {
        /* A full table has no room for a stranger: not worth reading. */
        if (peer_count == SOFTBUS_MAX_PEERS && known < 0)
            return;
        copy_text(m.text, sizeof m.text, (const char *)m.payload, m.payload_len);
        announced(src, m.text);
        return;
    }
    copy_text(m.text, sizeof m.text, (const char *)m.payload, m.payload_len);

    struct softbus_peer *p = known >= 0 ? &peers[known] : 0;
    if (p) {
        p->last_seen = net_now_ms();
        /* A retransmitted CON we already handled: acknowledge it again,
         * deliver it only once. */
        if (is_con && p->have_mid && p->last_mid == m.mid) {
            send_ack(src, src_port, m.mid, p->last_code);
            return;
        }
    }
    const char *from = m.from[0] ? m.from : ip_str(src);
    uint8_t code = COAP_NOT_FOUND;
    if (cbs.message)
        code = cbs.message(src, from, topic, m.text, is_con);
    if (is_con) {
        send_ack(src, src_port, m.mid, code);
        if (p) {
            p->last_mid = m.mid;
            p->last_code = code;
            p->have_mid = 1;
        }
    }
}

/* ---- public -------------------------------------------------------------- */

/* When softbus_poll next has something to do: the next announcement, the
 * earliest peer time-out, the retransmission of the CON in flight. */
static int softbus_next_due(uint32_t *due)
{
    uint32_t t = next_announce;

    if (peer_count && (int32_t)(next_expiry - t) < 0)
        t = next_expiry;
    if (con.active && (int32_t)(con.deadline - t) < 0)
        t = con.deadline;
    *due = t;
    return 1;
}

void softbus_init(const char *role, const char *kind, const char *caps,
                  const struct softbus_callbacks *cb)
{
    char *p = my_name, *end = my_name + sizeof my_name - 1;
    char num[4];
    unsigned n = net_if.device, d = 0;

    p = append(p, end, role);
    p = append(p, end, "-");
    do
        num[d++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    while (d && p < end)
        *p++ = num[--d];
    *p = 0;

    p = announcement;
    end = announcement + sizeof announcement - 1;
    p = append(p, end, "name=");
    p = append(p, end, my_name);
    p = append(p, end, ";kind=");
    p = append(p, end, kind);
    p = append(p, end, ";caps=");
    p = append(p, end, caps);
    *p = 0;

    if (cb)
        cbs = *cb;
    /* A deterministic first message ID that differs between devices. */
    next_mid = (uint16_t)(net_if.device << 8);
    next_announce = net_now_ms();
    net_join_group(SOFTBUS_GROUP);
    udp_bind(SOFTBUS_PORT, received);
    net_add_due_source(softbus_next_due);
}

const char *softbus_name(void)
{
    return my_name;
}

int softbus_busy(void)
{
    return con.active;
}

int softbus_send(uint32_t ip, const char *topic, const char *text, int confirmable)
{
    if (str_len(text) > SOFTBUS_MAX_TEXT || str_len(topic) > 12 || (confirmable && con.active))
        return -1;
    uint16_t mid = next_mid++;
    if (!confirmable) {
        uint8_t msg[MSG_MAX];
        unsigned len = encode(msg, COAP_NON, mid, topic, 1, text);
        return udp_send(ip, SOFTBUS_PORT, SOFTBUS_PORT, msg, len) < 0 ? -1 : mid;
    }
    con.len = encode(con.msg, COAP_CON, mid, topic, 1, text);
    if (udp_send(ip, SOFTBUS_PORT, SOFTBUS_PORT, con.msg, con.len) < 0)
        return -1;
    con.active = 1;
    con.dst = ip;
    con.mid = mid;
    con.retries = 0;
    con.timeout = ACK_TIMEOUT_MS;
    con.deadline = net_now_ms() + con.timeout;
    return mid;
}

void softbus_poll(void)
{
    if (net_time_reached(next_announce)) {
        send_announcement(SOFTBUS_GROUP);
        next_announce += SOFTBUS_ANNOUNCE_MS;
        /* After a long stall, do not send a burst to catch up. */
        if (net_time_reached(next_announce))
            next_announce = net_now_ms() + SOFTBUS_ANNOUNCE_MS;
    }
    expire_peers();
    if (con.active && net_time_reached(con.deadline)) {
        if (con.retries < MAX_RETRANSMIT) {
            /* CoAP doubles the wait after each retransmission. */
            con.retries++;
            con.timeout *= 2;
            con.deadline = net_now_ms() + con.timeout;
            udp_send(con.dst, SOFTBUS_PORT, SOFTBUS_PORT, con.msg, con.len);
        } else {
            con.active = 0;
            if (cbs.acked)
                cbs.acked(con.mid, 0);
        }
    }
}
