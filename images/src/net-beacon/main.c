/*
 * net-beacon: the idle-heavy device of the scale benchmark. It announces
 * itself on the soft bus once a second, keeps its peer table, answers ARP
 * and ping, and otherwise sleeps in WFI: woken by a frame, or by the
 * clock's alarm when the next thing is due (an announcement, a peer's
 * time-out, its own report), with no periodic tick. It prints only its
 * identity and, every 10 s, how many peers it knows.
 */
#include <stdint.h>

#include "console.h"
#include "net.h"
#include "softbus.h"

int main(void)
{
    static const struct softbus_callbacks cbs = {0};

    if (net_init(0, 0) < 0) {
        con_puts("net-beacon: no LAN9118\n");
        return 0;
    }
    softbus_init("beacon", "sensor", "temp", &cbs);
    con_printf("net-beacon: %s is %s\n", softbus_name(), ip_str(net_if.ip));
    uint32_t next_report = net_now_ms() + 10000;
    for (;;) {
        net_poll();
        softbus_poll();
        if (net_time_reached(next_report)) {
            con_printf("net-beacon: %u peers\n", softbus_peer_count());
            next_report += 10000;
        }
        net_idle_until(next_report);
    }
}
