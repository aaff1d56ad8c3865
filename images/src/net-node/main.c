/*
 * net-node: a sensor node on the soft bus (softbus.h). It announces itself
 * as "node-N" (N from the MAC address), kind "sensor", caps "temp,hum",
 * waits for a peer of kind "hub", then publishes READINGS fake readings to
 * it, one a second, each as a confirmable message on topic "reading" that
 * the hub acknowledges. It prints what it receives: the hub's arrival and
 * departure, messages addressed to it and the acknowledgements.
 *
 * The readings are a fixed function of N and the sequence number, so every
 * run prints the same lines in the same order. Once the last reading is
 * acknowledged the node stops (and so stops announcing; the hub drops it
 * 3 s later). Without a hub for HUB_WAIT_MS (none found, or the hub left
 * and did not come back) it stops too.
 */
#include <stdint.h>
#include <string.h>

#include "console.h"
#include "lan9118.h"
#include "net.h"
#include "softbus.h"

#define READINGS          5
#define READING_PERIOD_MS 1000
#define HUB_WAIT_MS       30000

static uint32_t hub_ip;
static char hub_name[SOFTBUS_NAME_LEN];
static uint32_t next_reading, give_up;
static unsigned sent, finished;

static void on_peer(const struct softbus_peer *p, enum softbus_event ev)
{
    /* Only the hub matters here; other nodes come and go in an order that
     * depends on when each one started. */
    if (ev == SOFTBUS_JOINED && !hub_ip && memcmp(p->kind, "hub", 4) == 0) {
        hub_ip = p->ip;
        memcpy(hub_name, p->name, sizeof hub_name);
        con_printf("net-node: found hub %s at %s (caps %s)\n", p->name, ip_str(p->ip), p->caps);
        next_reading = net_now_ms() + READING_PERIOD_MS;
    } else if (ev == SOFTBUS_LEFT && p->ip == hub_ip) {
        con_printf("net-node: lost hub %s\n", p->name);
        hub_ip = 0;
        give_up = net_now_ms() + HUB_WAIT_MS;
    }
}

static uint8_t on_message(uint32_t src, const char *from, const char *topic,
                          const char *text, int confirmable)
{
    (void)src;
    con_printf("net-node: %s from %s on %s: %s\n", confirmable ? "request" : "message",
               from, topic, text);
    return COAP_CHANGED;
}

static void on_acked(uint16_t mid, uint8_t code)
{
    (void)mid;
    finished++;
    if (code == 0)
        con_printf("net-node: reading %u not acknowledged\n", sent);
    else
        con_printf("net-node: reading %u acknowledged (%u.%02u)\n", sent,
                   (unsigned)(code >> 5), (unsigned)(code & 31));
}

static char *put_text(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

static char *put_uint(char *p, unsigned v)
{
    char digits[10];
    unsigned n = 0;

    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = digits[--n];
    return p;
}

/* "seq=3;temp=21.4;hum=47": deterministic, different per device. */
static void make_reading(char *buf, unsigned seq)
{
    unsigned n = net_if.device;
    unsigned temp = 200 + (n * 13 + seq * 7) % 60;   /* tenths of a degree */
    unsigned hum = 40 + (n * 5 + seq * 3) % 20;      /* percent */
    char *p = buf;

    p = put_text(p, "seq=");
    p = put_uint(p, seq);
    p = put_text(p, ";temp=");
    p = put_uint(p, temp / 10);
    *p++ = '.';
    p = put_uint(p, temp % 10);
    p = put_text(p, ";hum=");
    p = put_uint(p, hum);
    *p = 0;
}

int main(void)
{
    static const struct softbus_callbacks cbs = {
        .peer = on_peer, .message = on_message, .acked = on_acked,
    };

    if (net_init(0, 0) < 0) {
        con_puts("net-node: no LAN9118\n");
        con_puts("net-node: done\n");
        return 0;
    }
    softbus_init("node", "sensor", "temp,hum", &cbs);
    const struct lan9118_link *link = lan9118_link();
    con_printf("net-node: %s is %s (%s), link %s, %u Mbit/s %s duplex\n",
               softbus_name(), ip_str(net_if.ip), mac_str(net_if.mac),
               link->up ? "up" : "down", link->mbps, link->full_duplex ? "full" : "half");

    give_up = net_now_ms() + HUB_WAIT_MS;
    while (finished < READINGS) {
        net_poll();
        softbus_poll();
        if (!hub_ip && !softbus_busy() && net_time_reached(give_up)) {
            con_puts("net-node: no hub\n");
            break;
        }
        if (hub_ip && sent < READINGS && !softbus_busy() && net_time_reached(next_reading)) {
            char text[48];
            make_reading(text, sent + 1);
            if (softbus_send(hub_ip, "reading", text, 1) >= 0) {
                sent++;
                con_printf("net-node: reading %u to %s: %s\n", sent, hub_name, text);
            }
            next_reading += READING_PERIOD_MS;
        }
        /* What the tests above wait for, unless a frame or the soft bus
         * (an ACK, a retransmission) comes first; while a CON is in flight
         * only those can change anything. */
        uint32_t next = net_now_ms() + 60000;
        if (!softbus_busy())
            next = !hub_ip ? give_up : sent < READINGS ? next_reading : next;
        net_idle_until(next);
    }
    con_puts("net-node: done\n");
    return 0;
}
