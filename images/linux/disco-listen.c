/*
 * disco-listen: the Linux guest's side of the soft bus (images/include/
 * softbus.h), for checking that an arm64 Linux device and the MCU network
 * images see each other.
 *
 *     disco-listen [COUNT [SECONDS [IFACE]]]     (defaults 10, 30, eth0)
 *
 * It binds UDP port 5684 on INADDR_ANY (SO_REUSEADDR, SO_BROADCAST), joins
 * the soft bus group 224.0.1.187 on IFACE (the MCU images announce there),
 * and sends one announcement of its own to IFACE's broadcast address, in
 * the soft bus format: a CoAP NON POST /sb/ann with the payload
 * "name=linux-N;kind=linux;caps=shell", N the last byte of IFACE's MAC as
 * for the MCU images (52:54:00:12:34:05 is linux-5, normally at 10.0.0.6).
 * The MCU images accept the subnet broadcast (lib/net/net.c net_accepts),
 * so a net-hub lists the device. Like lib/net/softbus.c it also answers
 * each sender of an announcement it has not heard before with one unicast
 * announcement, so a hub that starts later still meets it.
 *
 * Every datagram received is printed as one line
 *     from A.B.C.D:PORT len N: <text>
 * where <text> is, for a CoAP message, "coap <type> <code> mid=<id>
 * /<path>[?<query>]" and its payload; otherwise the datagram itself if it
 * is printable, else "hex " and its bytes. Our own broadcast, which Linux
 * loops back, is not printed or counted. stdout is unbuffered.
 *
 * Exits 0 after COUNT datagrams, 2 when SECONDS pass first, 1 on an error.
 *
 * Build: aarch64-linux-gnu-gcc -static -O2 (scripts/build-initramfs.sh).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOFTBUS_PORT  5684
#define SOFTBUS_GROUP "224.0.1.187"
#define ROLE          "linux"
#define KIND          "linux"
#define CAPS          "shell"
#define MAX_HEARD     32

static uint32_t heard[MAX_HEARD];   /* announcers answered, network order */
static unsigned heard_count;

static void die(const char *what)
{
    fprintf(stderr, "disco-listen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Interface address, netmask or MAC via the classic ioctls. */
static void if_query(int fd, const char *ifname, unsigned long req, struct ifreq *ifr,
                     const char *what)
{
    memset(ifr, 0, sizeof *ifr);
    snprintf(ifr->ifr_name, sizeof ifr->ifr_name, "%s", ifname);
    if (ioctl(fd, req, ifr) < 0) {
        fprintf(stderr, "disco-listen: %s of %s: %s\n", what, ifname, strerror(errno));
        exit(1);
    }
}

/* CoAP NON POST /sb/ann (Content-Format 0) with the announcement text, as
 * lib/net/softbus.c encodes it. Returns the length. */
static size_t encode_announcement(uint8_t *msg, uint16_t mid, const char *text)
{
    uint8_t *p = msg;
    size_t n = strlen(text);

    *p++ = 0x50;                 /* version 1, NON, token length 0 */
    *p++ = 0x02;                 /* POST */
    *p++ = (uint8_t)(mid >> 8);
    *p++ = (uint8_t)mid;
    *p++ = 0xB2;                 /* Uri-Path (11), length 2 */
    memcpy(p, "sb", 2), p += 2;
    *p++ = 0x03;                 /* Uri-Path again (delta 0), length 3 */
    memcpy(p, "ann", 3), p += 3;
    *p++ = 0x10;                 /* Content-Format (12), empty: text/plain */
    *p++ = 0xFF;                 /* payload marker */
    memcpy(p, text, n), p += n;
    return (size_t)(p - msg);
}

static int printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7E)
            return 0;
    return n > 0;
}

static void put_bytes(const uint8_t *p, size_t n)
{
    if (printable(p, n)) {
        fwrite(p, 1, n, stdout);
        return;
    }
    fputs("hex", stdout);
    for (size_t i = 0; i < n; i++)
        printf(" %02x", p[i]);
}

/* An option's delta or length nibble with its extension bytes. */
static int coap_ext(const uint8_t *p, size_t len, size_t *i, unsigned *v)
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

/*
 * Describe a CoAP message as text: "coap NON POST mid=0x0100 /sb/ann:
 * payload". Returns 0, or -1 if p is not a well-formed CoAP message.
 * Sets *is_ann for a POST to /sb/ann.
 */
static int describe_coap(const uint8_t *p, size_t len, char *out, size_t size,
                         const uint8_t **payload, size_t *payload_len, int *is_ann)
{
    static const char *types[] = {"CON", "NON", "ACK", "RST"};
    char path[128] = "", query[128] = "", code[16];
    size_t i, plen = 0, qlen = 0;
    unsigned number = 0;

    *payload = NULL;
    *payload_len = 0;
    if (len < 4 || p[0] >> 6 != 1 || (p[0] & 15) > 8)
        return -1;
    i = 4 + (p[0] & 15u);   /* skip the token */
    if (i > len)
        return -1;
    while (i < len) {
        if (p[i] == 0xFF) {
            if (i + 1 >= len)
                return -1;   /* a marker needs a payload */
            *payload = p + i + 1;
            *payload_len = len - i - 1;
            break;
        }
        unsigned delta = p[i] >> 4, olen = p[i] & 15u;
        i++;
        if (coap_ext(p, len, &i, &delta) < 0 || coap_ext(p, len, &i, &olen) < 0 ||
            i + olen > len)
            return -1;
        number += delta;
        if (number == 11 && plen + 1 + olen < sizeof path) {         /* Uri-Path */
            path[plen++] = '/';
            memcpy(path + plen, p + i, olen);
            path[plen += olen] = 0;
        } else if (number == 15 && qlen + 1 + olen < sizeof query) { /* Uri-Query */
            query[qlen] = qlen ? '&' : '?';
            qlen++;
            memcpy(query + qlen, p + i, olen);
            query[qlen += olen] = 0;
        }
        i += olen;
    }
    if (p[1] == 0x02)
        snprintf(code, sizeof code, "POST");
    else
        snprintf(code, sizeof code, "%u.%02u", p[1] >> 5, p[1] & 31u);
    snprintf(out, size, "coap %s %s mid=0x%04x %s%s", types[(p[0] >> 4) & 3], code,
             (unsigned)(p[2] << 8 | p[3]), plen ? path : "", query);
    *is_ann = p[1] == 0x02 && strcmp(path, "/sb/ann") == 0;
    return 0;
}

static int heard_before(uint32_t ip)
{
    for (unsigned i = 0; i < heard_count; i++)
        if (heard[i] == ip)
            return 1;
    if (heard_count < MAX_HEARD)
        heard[heard_count++] = ip;
    return 0;
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? strtol(argv[1], NULL, 0) : 10;
    long seconds = argc > 2 ? strtol(argv[2], NULL, 0) : 30;
    const char *ifname = argc > 3 ? argv[3] : "eth0";
    struct ifreq ifr;
    struct in_addr addr, mask, bcast;
    char name[32], text[96];
    uint8_t msg[160], buf[2048];
    uint16_t mid;
    int fd, one = 1;

    if (argc > 4 || count < 1 || seconds < 1) {
        fprintf(stderr, "usage: disco-listen [COUNT [SECONDS [IFACE]]]\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IONBF, 0);

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0)
        die("setsockopt");

    /* Identity as for the MCU images: N is the MAC's last byte. */
    if_query(fd, ifname, SIOCGIFHWADDR, &ifr, "MAC address");
    unsigned device = (uint8_t)ifr.ifr_hwaddr.sa_data[5];
    if_query(fd, ifname, SIOCGIFADDR, &ifr, "IPv4 address");
    addr = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
    if_query(fd, ifname, SIOCGIFNETMASK, &ifr, "netmask");
    mask = ((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr;
    bcast.s_addr = addr.s_addr | ~mask.s_addr;
    snprintf(name, sizeof name, ROLE "-%u", device);
    snprintf(text, sizeof text, "name=%s;kind=" KIND ";caps=" CAPS, name);
    mid = (uint16_t)(device << 8);   /* first message ID as softbus.c picks it */

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(SOFTBUS_PORT),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind UDP 5684");

    /* Announcements go to the group, so join it on IFACE (by index: there
     * may be no route for 224.0.0.0/4). */
    struct ip_mreqn mreq = {.imr_ifindex = (int)if_nametoindex(ifname)};
    inet_pton(AF_INET, SOFTBUS_GROUP, &mreq.imr_multiaddr);
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0)
        die("join " SOFTBUS_GROUP);

    char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr, a, sizeof a);
    inet_ntop(AF_INET, &bcast, b, sizeof b);
    printf("disco-listen: %s at %s on %s, UDP %d, group " SOFTBUS_GROUP "\n", name, a, ifname,
           SOFTBUS_PORT);

    size_t n = encode_announcement(msg, mid++, text);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(SOFTBUS_PORT),
                             .sin_addr = bcast};
    if (sendto(fd, msg, n, 0, (struct sockaddr *)&to, sizeof to) < 0)
        die("send announcement");
    printf("disco-listen: announced to %s:%d: %s\n", b, SOFTBUS_PORT, text);

    int64_t deadline = now_ms() + seconds * 1000;
    long received = 0;
    while (received < count) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("poll");
        if (r == 0)
            continue;

        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        ssize_t len = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
        if (len < 0) {
            if (errno == EINTR)
                continue;
            die("recvfrom");
        }
        if (from.sin_addr.s_addr == addr.s_addr && from.sin_port == htons(SOFTBUS_PORT))
            continue;   /* our own broadcast, looped back */
        received++;

        char src[INET_ADDRSTRLEN], desc[320];
        const uint8_t *payload;
        size_t payload_len;
        int is_ann = 0;
        inet_ntop(AF_INET, &from.sin_addr, src, sizeof src);
        printf("from %s:%u len %zd: ", src, ntohs(from.sin_port), len);
        if (describe_coap(buf, (size_t)len, desc, sizeof desc, &payload, &payload_len,
                          &is_ann) == 0) {
            fputs(desc, stdout);
            if (payload_len) {
                fputs(": ", stdout);
                put_bytes(payload, payload_len);
            }
        } else {
            put_bytes(buf, (size_t)len);
        }
        putchar('\n');

        /* As softbus.c: a newly heard announcer gets one unicast
         * announcement so both sides meet at once. */
        if (is_ann && !heard_before(from.sin_addr.s_addr)) {
            n = encode_announcement(msg, mid++, text);
            to.sin_addr = from.sin_addr;
            to.sin_port = htons(SOFTBUS_PORT);
            if (sendto(fd, msg, n, 0, (struct sockaddr *)&to, sizeof to) < 0)
                perror("disco-listen: answer announcement");
        }
    }
    printf("disco-listen: %ld datagram%s%s\n", received, received == 1 ? "" : "s",
           received < count ? ", timed out" : "");
    close(fd);
    return received < count ? 2 : 0;
}
