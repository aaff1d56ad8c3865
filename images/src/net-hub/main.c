/*
 * net-hub: the soft bus hub (softbus.h). It announces itself as "hub-N",
 * kind "hub", prints the peer table whenever it changes, welcomes each
 * sensor that joins with a message, and prints and acknowledges every
 * reading the sensors publish to it.
 *
 * It stops once every peer it has seen has gone again (the nodes stop
 * after their readings, and a silent peer is dropped after 3 s), or after
 * NO_PEER_WAIT_MS if nobody ever shows up. Peers are listed in address
 * order, so with one node, or nodes that start in a fixed order, the
 * output is the same on every run.
 */
#include <stdint.h>
#include <string.h>

#include "console.h"
#include "lan9118.h"
#include "net.h"
#include "softbus.h"

#define NO_PEER_WAIT_MS 60000

static int seen_peers, all_gone;
static unsigned readings;

static const char *event_name(enum softbus_event ev)
{
    return ev == SOFTBUS_JOINED ? "joined" : ev == SOFTBUS_CHANGED ? "changed" : "left";
}

static void on_peer(const struct softbus_peer *p, enum softbus_event ev)
{
    con_printf("net-hub: %s %s (%s, kind=%s, caps=%s)\n", p->name, event_name(ev),
               ip_str(p->ip), p->kind, p->caps);
    con_printf("net-hub: peer table, %u peer%s\n", softbus_peer_count(),
               softbus_peer_count() == 1 ? "" : "s");
    softbus_print_peers("net-hub:   ");

    if (ev == SOFTBUS_JOINED) {
        seen_peers = 1;
        if (memcmp(p->kind, "sensor", 7) == 0) {
            char text[40] = "welcome ";
            memcpy(text + 8, p->name, sizeof p->name);
            softbus_send(p->ip, "msg", text, 0);
        }
    }
    if (ev == SOFTBUS_LEFT && softbus_peer_count() == 0)
        all_gone = 1;
}

static uint8_t on_message(uint32_t src, const char *from, const char *topic,
                          const char *text, int confirmable)
{
    (void)src;
    (void)confirmable;
    if (memcmp(topic, "reading", 8) == 0) {
        readings++;
        con_printf("net-hub: reading from %s: %s\n", from, text);
    } else {
        con_printf("net-hub: message from %s on %s: %s\n", from, topic, text);
    }
    return COAP_CHANGED;
}

int main(void)
{
    static const struct softbus_callbacks cbs = {.peer = on_peer, .message = on_message};

    if (net_init(0, 0) < 0) {
        con_puts("net-hub: no LAN9118\n");
        con_puts("net-hub: done\n");
        return 0;
    }
    softbus_init("hub", "hub", "readings", &cbs);
    const struct lan9118_link *link = lan9118_link();
    con_printf("net-hub: %s is %s (%s), link %s, %u Mbit/s %s duplex\n",
               softbus_name(), ip_str(net_if.ip), mac_str(net_if.mac),
               link->up ? "up" : "down", link->mbps, link->full_duplex ? "full" : "half");

    uint32_t give_up = net_now_ms() + NO_PEER_WAIT_MS;
    while (!all_gone) {
        net_poll();
        softbus_poll();
        if (!seen_peers && net_time_reached(give_up)) {
            con_puts("net-hub: no peers\n");
            break;
        }
        /* Frames wake it; otherwise only the give-up time (and the soft
         * bus's own timers) is due. */
        net_idle_until(seen_peers ? net_now_ms() + 60000 : give_up);
    }
    con_printf("net-hub: %u reading%s\n", readings, readings == 1 ? "" : "s");
    con_puts("net-hub: done\n");
    return 0;
}
