/*
 * home-phone: the control center of the smart home (include/home.h), for
 * the phone board (Cortex-M7, 480x800 touchscreen, radio, Ethernet).
 *
 * Screen, top to bottom:
 *  - header: "Home", the clock (virtual time from HOME_CLOCK_START_S), how
 *    many devices are in reach, and whether the speaker is on the LAN;
 *  - a banner: "All quiet" or, while a sensor is too warm, the alert
 *    ("ALERT kitchen 30.4 C") in red;
 *  - a card per device heard on the radio, in address order (up to 5):
 *    kind icon and colour, name, live readings, link quality as 4 bars
 *    (from the LQI) and the RSSI, when it was last heard; a sensor card
 *    also has a "rate" button. A device not heard for 3 s (HOME_LOST_MS)
 *    is greyed until it is heard again.
 *
 * Tapping a card sends a command (home.h): speaker -> "chime", watch ->
 * "msg Hello from phone", sensor -> "blink", or on its rate button
 * "rate 2" / "rate 1" (the other of its two report periods). The card
 * lights up at once: a touch is handled, drawn and presented in the same
 * pass of the main loop.
 *
 * Alert: when a sensor's temperature reaches ALERT_ON (30.0 C) the phone
 * shows the banner, sends "chime" to the speaker and "msg ALERT <name>
 * <temp>C" to the watch; below ALERT_OFF (29.0 C) the alert clears.
 *
 * The speaker's commands go over the LAN (UDP HOME_UDP_PORT) while the
 * soft bus lists a peer of kind "speaker", and over the radio otherwise,
 * or when the LAN does not acknowledge within HOME_LAN_ACK_TIMEOUT_MS.
 * Radio commands are repeated until acknowledged (HOME_CMD_TRIES).
 *
 * Drawing: into the one framebuffer, then handed to the display once per
 * change (FRAME_READY) without waiting for the vsync; nothing is drawn
 * again until the display has taken the frame, so no frame is ever shown
 * half drawn. Only the parts whose content changed (header, banner, each
 * card: each has a "view" of what it shows, compared with what is on
 * screen) are redrawn, with fills of 16 pixels per store-multiple and
 * text written straight into the framebuffer: the 480x800 screen is
 * 384000 pixels for a 25 MHz core. A tap is drawn in the pass of the
 * main loop that takes it (about 5 ms for its card) and shown at the next
 * vsync; the command goes out while the display takes the frame.
 *
 * UART0:
 *   home-phone: 480x800, eui 1, address 0x0001, lan phone-0 at 10.0.0.1
 *   lan: speaker-2 joined (10.0.0.3) / lan: speaker-2 left
 *   card kitchen (sensor, address 0x0004)       first heard
 *   lost bedroom / found bedroom
 *   tap speaker -> chime
 *   send speaker: chime via lan                 (or via radio)
 *   lan: no ack from speaker-2                  then the radio is used
 *   no ack from bedroom for blink               every try went unanswered
 *   alert kitchen 30.1 / alert cleared kitchen 28.9
 * The lib/net stack owns the dual timer (IRQ 10) and IRQ 13. It runs until the
 * emulator stops it.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "display.h"
#include "format.h"
#include "gfx.h"
#include "home.h"
#include "input.h"
#include "lan9118.h"
#include "net.h"
#include "radio_mac.h"
#include "softbus.h"

#if !BOARD_HAS_RADIO || !BOARD_HAS_DISPLAY || !BOARD_HAS_TOUCH
#error "home-phone needs a radio and a touchscreen"
#endif

void RADIO_IRQ_HANDLER(void) { rmac_irq(); }
void IRQ25_Handler(void) { gfx_vsync_irq(); }
void IRQ26_Handler(void) { input_touch_irq(); }
void IRQ27_Handler(void) { input_gpio_irq(); }

#define NAME        "phone"
#define ALERT_ON    30000       /* m degC: alert from here on ... */
#define ALERT_OFF   29000       /* ... until below this */
#define UI_TICK_MS  100u        /* time-driven parts are looked at this often */
#define FLASH_MS    300u        /* a tapped card stays lit */
#define NOTE_MS     2000u       /* "sent ..." on a tapped card */
#define MAX_DEVICES 5
#define MAX_PENDING 6

/* ---- layout (480 x 800) ---------------------------------------------------- */

#define SCREEN_W    480
#define HEADER_H    84
#define BANNER_X    12
#define BANNER_Y    92
#define BANNER_W    456
#define BANNER_H    60
#define CARD_X      12
#define CARD_Y0     164
#define CARD_W      456
#define CARD_H      116
#define CARD_PITCH  126
#define CARD_R      14
/* Inside a card. */
#define ICON_CX     48
#define ICON_CY     58
#define TEXT_X      96
#define NAME_Y      14
#define LINE_Y      52
#define FOOT_Y      86
#define BARS_RIGHT  (CARD_W - 18)
#define PILL_X      (CARD_W - 128)
#define PILL_Y      74
#define PILL_W      112
#define PILL_H      30
#define PILL_ZONE_X (CARD_W - 140)   /* taps right of here and ... */
#define PILL_ZONE_Y 64               /* ... below here hit the rate button */

/* ---- colours ----------------------------------------------------------------- */

#define C_BG        GFX_RGB(12, 14, 22)
#define C_HEADER    GFX_RGB(22, 28, 46)
#define C_CARD      GFX_RGB(32, 38, 56)
#define C_CARD_LOST GFX_RGB(24, 24, 28)
#define C_TEXT      GFX_WHITE
#define C_DIM       GFX_RGB(150, 160, 182)
#define C_FAINT     GFX_RGB(92, 92, 100)
#define C_ACCENT    GFX_RGB(90, 200, 250)
#define C_OK        GFX_RGB(70, 200, 110)
#define C_ALERT     GFX_RGB(214, 40, 46)
#define C_BAR_OFF   GFX_RGB(60, 66, 84)
#define C_WATCH     GFX_RGB(0, 176, 196)
#define C_SPEAKER   GFX_RGB(150, 100, 232)
#define C_SENSOR    GFX_RGB(245, 150, 40)
#define C_PHONE     GFX_RGB(90, 140, 250)
#define C_LOST_ICON GFX_RGB(78, 78, 86)
#define C_MERCURY   GFX_RGB(220, 40, 40)

/* ---- state ------------------------------------------------------------------- */

struct device {
    uint16_t addr;
    uint8_t kind, flags, period;        /* as last announced */
    char name[HOME_NAME_MAX + 1];
    uint8_t count;
    struct home_reading reading[HOME_MAX_READINGS];
    int8_t rssi;
    uint8_t lqi;
    uint32_t heard;                     /* ms */
    uint8_t lost, alert;
    uint32_t flash_until, note_until;
    char note[28];
};

/* What a card shows; redrawn when this changes. */
struct card_view {
    char name[HOME_NAME_MAX + 1];
    char line[36];
    char foot[28];
    char signal[12];
    char pill[10];
    uint8_t kind, lost, alert, flash, bars, noted;
};

struct header_view {
    char clock[12];
    char online[28];
    uint8_t lan;
};

struct pending {
    uint8_t used, id, tries, lan;
    uint8_t queued;                     /* not sent yet: goes out in run_pending */
    uint16_t addr;                      /* radio address */
    uint32_t ip;                        /* LAN address while lan */
    uint32_t due;
    char name[HOME_NAME_MAX + 1];
    char text[HOME_TEXT_MAX + 1];
};

static struct device devices[MAX_DEVICES];
static unsigned device_count;
static struct pending pending[MAX_PENDING];
static uint8_t next_id = 1;
static uint16_t my_addr;
static int lan_up;
static uint32_t lan_speaker_ip;         /* 0: no speaker on the soft bus */
static char lan_speaker_name[SOFTBUS_NAME_LEN];

static struct card_view card_shown[MAX_DEVICES];
static uint8_t card_valid[MAX_DEVICES];
static struct header_view header_shown;
static uint8_t header_valid;
static char banner_shown[40];
static uint8_t banner_valid;

/* ---- strings ------------------------------------------------------------------ */

static void scat(char *dst, unsigned size, const char *s)
{
    unsigned n = 0;
    while (dst[n])
        n++;
    while (*s && n + 1 < size)
        dst[n++] = *s++;
    dst[n] = 0;
}

static void scat_uint(char *dst, unsigned size, uint32_t v)
{
    char b[FMT_BUF_SIZE];
    fmt_uint(b, v, 1);
    scat(dst, size, b);
}

static void scat_int(char *dst, unsigned size, int32_t v)
{
    char b[FMT_BUF_SIZE];
    fmt_int(b, v, 1);
    scat(dst, size, b);
}

static void scat_milli(char *dst, unsigned size, int32_t v, unsigned decimals)
{
    char b[FMT_BUF_SIZE];
    fmt_milli(b, v, decimals);
    scat(dst, size, b);
}

static void scopy(char *dst, unsigned size, const char *s)
{
    dst[0] = 0;
    scat(dst, size, s);
}

static int reached(uint32_t now, uint32_t t) { return (int32_t)(now - t) >= 0; }

static const char *kind_name(uint8_t kind)
{
    switch (kind) {
    case HOME_KIND_PHONE: return "phone";
    case HOME_KIND_WATCH: return "watch";
    case HOME_KIND_SPEAKER: return "speaker";
    case HOME_KIND_SENSOR: return "sensor";
    default: return "device";
    }
}

static uint16_t kind_color(uint8_t kind)
{
    switch (kind) {
    case HOME_KIND_WATCH: return C_WATCH;
    case HOME_KIND_SPEAKER: return C_SPEAKER;
    case HOME_KIND_SENSOR: return C_SENSOR;
    default: return C_PHONE;
    }
}

static int reading(const struct device *d, uint8_t q, int32_t *v)
{
    for (unsigned k = 0; k < d->count; k++)
        if (d->reading[k].quantity == q) {
            *v = d->reading[k].value;
            return 1;
        }
    return 0;
}

static struct device *find_kind(uint8_t kind)
{
    for (unsigned i = 0; i < device_count; i++)
        if (devices[i].kind == kind)
            return &devices[i];
    return 0;
}

static uint32_t lost_after(const struct device *d)
{
    uint32_t t = d->period * 150u;      /* 1.5 periods, in ms */
    return t > HOME_LOST_MS ? t : HOME_LOST_MS;
}

/* ---- commands ----------------------------------------------------------------- */

static uint8_t new_id(void)
{
    uint8_t id = next_id++;
    if (!next_id)
        next_id = 1;
    return id;
}

static struct pending *new_pending(void)
{
    for (unsigned i = 0; i < MAX_PENDING; i++)
        if (!pending[i].used) {
            memset(&pending[i], 0, sizeof pending[i]);
            pending[i].used = 1;
            return &pending[i];
        }
    return 0;
}

/* Put a pending command on the air (again). */
static void radio_try(struct pending *c, uint32_t now)
{
    uint8_t buf[HOME_MAX_PAYLOAD];

    c->tries++;
    rmac_send(c->addr, buf, home_encode_command(buf, c->id, c->text));
    c->due = now + HOME_ACK_TIMEOUT_MS + 10u * c->tries;
}

static void send_radio(struct pending *c, uint32_t now)
{
    c->lan = 0;
    c->tries = 0;
    con_printf("send %s: %s via radio\n", c->name, c->text);
    radio_try(c, now);
}

static void send_lan(struct pending *c, uint32_t now)
{
    uint8_t buf[HOME_MAX_PAYLOAD];

    c->lan = 1;
    c->ip = lan_speaker_ip;
    con_printf("send %s: %s via lan\n", c->name, c->text);
    udp_send(c->ip, HOME_UDP_PORT, HOME_UDP_PORT, buf, home_encode_command(buf, c->id, c->text));
    c->due = now + HOME_LAN_ACK_TIMEOUT_MS;
}

/* Queue text for device d (the speaker by LAN if it can); run_pending
 * sends it, after the screen has been updated. */
static void send_command(struct device *d, const char *text, uint32_t now)
{
    struct pending *c = new_pending();

    if (!c) {
        con_printf("busy: %s to %s dropped\n", text, d->name);
        return;
    }
    c->id = new_id();
    c->addr = d->addr;
    c->lan = d->kind == HOME_KIND_SPEAKER && lan_speaker_ip;
    c->queued = 1;
    c->due = now;
    scopy(c->name, sizeof c->name, d->name);
    scopy(c->text, sizeof c->text, text);
}

static void run_pending(uint32_t now)
{
    for (unsigned i = 0; i < MAX_PENDING; i++) {
        struct pending *c = &pending[i];
        if (!c->used || !reached(now, c->due))
            continue;
        if (c->queued) {
            c->queued = 0;
            if (c->lan && lan_speaker_ip)
                send_lan(c, now);
            else
                send_radio(c, now);
        } else if (c->lan) {
            con_printf("lan: no ack from %s\n", lan_speaker_name);
            send_radio(c, now);
        } else if (c->tries < HOME_CMD_TRIES) {
            radio_try(c, now);
        } else {
            con_printf("no ack from %s for %s\n", c->name, c->text);
            c->used = 0;
        }
    }
}

static void acked(uint8_t id, int lan, uint16_t addr, uint32_t ip)
{
    for (unsigned i = 0; i < MAX_PENDING; i++) {
        struct pending *c = &pending[i];
        if (c->used && c->id == id && c->lan == lan && (lan ? c->ip == ip : c->addr == addr))
            c->used = 0;
    }
}

/* ---- events -------------------------------------------------------------------- */

static void note(struct device *d, const char *text, uint32_t now)
{
    scopy(d->note, sizeof d->note, text);
    d->note_until = now + NOTE_MS;
}

static void tap(struct device *d, int x, int y, uint32_t now)
{
    char cmd[24] = "";

    switch (d->kind) {
    case HOME_KIND_SPEAKER:
        scopy(cmd, sizeof cmd, "chime");
        break;
    case HOME_KIND_WATCH:
        scopy(cmd, sizeof cmd, "msg Hello from phone");
        break;
    case HOME_KIND_SENSOR:
        if (x >= PILL_ZONE_X && y >= PILL_ZONE_Y)
            scopy(cmd, sizeof cmd, d->period <= 10 ? "rate 2" : "rate 1");
        else
            scopy(cmd, sizeof cmd, "blink");
        break;
    default:
        return;
    }
    con_printf("tap %s -> %s\n", d->name, cmd);
    d->flash_until = now + FLASH_MS;
    char text[28] = "sent: ";
    scat(text, sizeof text, d->kind == HOME_KIND_WATCH ? "message" : cmd);
    note(d, text, now);
    send_command(d, cmd, now);
}

static void touch(unsigned x, unsigned y, uint32_t now)
{
    if (x < CARD_X || x >= CARD_X + CARD_W || y < CARD_Y0)
        return;
    unsigned slot = (y - CARD_Y0) / CARD_PITCH;
    unsigned dy = (y - CARD_Y0) % CARD_PITCH;
    if (slot >= device_count || dy >= CARD_H)
        return;
    tap(&devices[slot], (int)(x - CARD_X), (int)dy, now);
}

static struct device *alerting(void)
{
    for (unsigned i = 0; i < device_count; i++)
        if (devices[i].alert)
            return &devices[i];
    return 0;
}

static void check_alert(struct device *d, uint32_t now)
{
    int32_t t;
    char temp[FMT_BUF_SIZE];

    if (d->kind != HOME_KIND_SENSOR || !reading(d, HOME_Q_TEMPERATURE, &t))
        return;
    fmt_milli(temp, t, 1);
    if (!d->alert && t >= ALERT_ON) {
        d->alert = 1;
        con_printf("alert %s %s\n", d->name, temp);
        struct device *s = find_kind(HOME_KIND_SPEAKER);
        if (s)
            send_command(s, "chime", now);
        else
            con_puts("alert: no speaker to chime\n");
        struct device *w = find_kind(HOME_KIND_WATCH);
        if (w) {
            char msg[40] = "msg ALERT ";
            scat(msg, sizeof msg, d->name);
            scat(msg, sizeof msg, " ");
            scat(msg, sizeof msg, temp);
            scat(msg, sizeof msg, "C");
            send_command(w, msg, now);
        } else {
            con_puts("alert: no watch to tell\n");
        }
    } else if (d->alert && t < ALERT_OFF) {
        d->alert = 0;
        con_printf("alert cleared %s %s\n", d->name, temp);
    }
}

static void announced(const struct rmac_packet *p, const struct home_announce *a, uint32_t now)
{
    unsigned i = 0;

    if (p->src == my_addr)
        return;
    while (i < device_count && devices[i].addr < p->src)
        i++;
    if (i == device_count || devices[i].addr != p->src) {
        if (device_count == MAX_DEVICES) {
            return;     /* no room for a card */
        }
        memmove(&devices[i + 1], &devices[i], (device_count - i) * sizeof devices[0]);
        memset(&devices[i], 0, sizeof devices[i]);
        devices[i].addr = p->src;
        device_count++;
        con_printf("card %s (%s, address 0x%04x)\n", a->name, kind_name(a->kind),
                   (unsigned)p->src);
    } else if (devices[i].lost) {
        con_printf("found %s\n", devices[i].name);
    }
    struct device *d = &devices[i];
    d->kind = a->kind;
    d->flags = a->flags;
    d->period = a->period ? a->period : 10;
    memcpy(d->name, a->name, sizeof d->name);
    d->count = a->count;
    memcpy(d->reading, a->reading, sizeof d->reading);
    d->rssi = p->rssi;
    d->lqi = p->lqi;
    d->heard = now;
    d->lost = 0;
    check_alert(d, now);
}

static void receive_radio(uint32_t now)
{
    struct rmac_packet p;
    struct home_announce a;

    while (rmac_recv(&p)) {
        switch (home_type(p.payload, p.len)) {
        case HOME_ANNOUNCE:
            if (home_decode_announce(p.payload, p.len, &a) == 0)
                announced(&p, &a, now);
            break;
        case HOME_ACK:
            if (p.dst == my_addr)
                acked(home_decode_ack(p.payload, p.len), 0, p.src, 0);
            break;
        default:
            break;      /* nobody commands the phone */
        }
    }
}

static void check_lost(uint32_t now)
{
    for (unsigned i = 0; i < device_count; i++) {
        struct device *d = &devices[i];
        if (!d->lost && reached(now, d->heard + lost_after(d))) {
            d->lost = 1;
            con_printf("lost %s\n", d->name);
        }
    }
}

static void on_udp(uint32_t src, uint16_t src_port, uint32_t dst, const uint8_t *data, unsigned len)
{
    (void)src_port;
    (void)dst;
    uint8_t id = home_decode_ack(data, len);
    if (id)
        acked(id, 1, 0, src);
}

static void on_peer(const struct softbus_peer *p, enum softbus_event ev)
{
    if (ev == SOFTBUS_JOINED)
        con_printf("lan: %s joined (%s)\n", p->name, ip_str(p->ip));
    else if (ev == SOFTBUS_LEFT)
        con_printf("lan: %s left\n", p->name);
    if (memcmp(p->kind, "speaker", 8) != 0)
        return;
    if (ev == SOFTBUS_LEFT) {
        if (p->ip == lan_speaker_ip)
            lan_speaker_ip = 0;
    } else {
        lan_speaker_ip = p->ip;
        scopy(lan_speaker_name, sizeof lan_speaker_name, p->name);
    }
}

/* ---- own announcement ------------------------------------------------------------- */

static void announce(void)
{
    struct home_announce a = {
        .kind = HOME_KIND_PHONE,
        .flags = alerting() ? HOME_FLAG_ALERT : 0,
        .period = 10,
        .name = NAME,
        .count = 0,
    };
    uint8_t buf[HOME_MAX_PAYLOAD];

    rmac_send(RADIO_BROADCAST, buf, home_encode_announce(buf, &a));
}

/* ---- views ---------------------------------------------------------------------- */

static unsigned bars_for(uint8_t lqi)
{
    return lqi >= 200 ? 4 : lqi >= 150 ? 3 : lqi >= 100 ? 2 : lqi >= 50 ? 1 : 0;
}

static void card_view(const struct device *d, uint32_t now, struct card_view *v)
{
    int32_t x;

    memset(v, 0, sizeof *v);
    scopy(v->name, sizeof v->name, d->name);
    v->kind = d->kind;
    v->lost = d->lost;
    v->alert = d->alert;
    v->flash = !reached(now, d->flash_until);
    v->bars = (uint8_t)(d->lost ? 0 : bars_for(d->lqi));

    switch (d->kind) {
    case HOME_KIND_SENSOR:
        if (reading(d, HOME_Q_TEMPERATURE, &x)) {
            scat_milli(v->line, sizeof v->line, x, 1);
            scat(v->line, sizeof v->line, " C   ");
        }
        if (reading(d, HOME_Q_HUMIDITY, &x)) {
            scat_milli(v->line, sizeof v->line, x, 0);
            scat(v->line, sizeof v->line, "% RH   ");
        }
        if (reading(d, HOME_Q_LIGHT, &x)) {
            scat_milli(v->line, sizeof v->line, x, 0);
            scat(v->line, sizeof v->line, " lx");
        }
        scopy(v->pill, sizeof v->pill, "rate ");
        scat_uint(v->pill, sizeof v->pill, (d->period + 5u) / 10u);
        scat(v->pill, sizeof v->pill, "s");
        break;
    case HOME_KIND_WATCH:
        if (reading(d, HOME_Q_HEART_RATE, &x)) {
            scat_milli(v->line, sizeof v->line, x, 0);
            scat(v->line, sizeof v->line, " bpm   ");
        }
        if (reading(d, HOME_Q_STEPS, &x)) {
            scat_milli(v->line, sizeof v->line, x, 0);
            scat(v->line, sizeof v->line, " steps");
        }
        break;
    case HOME_KIND_SPEAKER:
        scopy(v->line, sizeof v->line, d->flags & HOME_FLAG_PLAYING ? "playing" : "idle");
        if (reading(d, HOME_Q_TEMPERATURE, &x)) {
            scat(v->line, sizeof v->line, "   ");
            scat_milli(v->line, sizeof v->line, x, 1);
            scat(v->line, sizeof v->line, " C");
        }
        break;
    default:
        break;
    }

    uint32_t ago = (now - d->heard) / 1000u;
    if (!reached(now, d->note_until)) {
        scopy(v->foot, sizeof v->foot, d->note);
        v->noted = 1;
    } else if (d->lost) {
        scopy(v->foot, sizeof v->foot, "not heard for ");
        scat_uint(v->foot, sizeof v->foot, ago);
        scat(v->foot, sizeof v->foot, "s");
    } else if (ago < 2) {
        scopy(v->foot, sizeof v->foot, "heard just now");
    } else {
        scopy(v->foot, sizeof v->foot, "heard ");
        scat_uint(v->foot, sizeof v->foot, ago);
        scat(v->foot, sizeof v->foot, "s ago");
    }
    if (!d->lost) {
        scat_int(v->signal, sizeof v->signal, d->rssi);
        scat(v->signal, sizeof v->signal, " dBm");
    }
}

static void header_view(uint32_t now, struct header_view *v)
{
    uint32_t t = HOME_CLOCK_START_S + now / 1000u;
    char *p = v->clock;
    unsigned online = 0;

    memset(v, 0, sizeof *v);
    p += fmt_uint(p, t / 3600 % 24, 2);
    *p++ = ':';
    p += fmt_uint(p, t / 60 % 60, 2);
    *p++ = ':';
    fmt_uint(p, t % 60, 2);
    for (unsigned i = 0; i < device_count; i++)
        online += !devices[i].lost;
    if (!device_count) {
        scopy(v->online, sizeof v->online, "looking for devices");
    } else {
        scat_uint(v->online, sizeof v->online, online);
        scat(v->online, sizeof v->online, " of ");
        scat_uint(v->online, sizeof v->online, device_count);
        scat(v->online, sizeof v->online, " devices in reach");
    }
    v->lan = lan_speaker_ip != 0;
}

static void banner_view(char *text, unsigned size)
{
    struct device *d = alerting();
    int32_t t;

    memset(text, 0, size);
    if (!d || !reading(d, HOME_Q_TEMPERATURE, &t))
        return;
    scopy(text, size, "ALERT ");
    scat(text, size, d->name);
    scat(text, size, " ");
    scat_milli(text, size, t, 1);
    scat(text, size, " C");
}

/* ---- drawing -------------------------------------------------------------------- */

/*
 * Fills straight into the framebuffer, 16 pixels per STMIA of 8 registers:
 * the library's gfx_fill_rect stores pixel by pixel, which costs a good
 * part of a frame at 25 MHz for a 456x116 card. The phone draws
 * unrotated, so (x, y) are framebuffer coordinates.
 */
static void fill_row(uint16_t *p, int n, uint16_t color)
{
    uint32_t pair = color | (uint32_t)color << 16;

    if (n > 0 && ((uintptr_t)p & 2)) {
        *p++ = color;
        n--;
    }
    uint32_t *q = (uint32_t *)p;
    int words = n >> 1;
    if (words >= 8) {
        __asm volatile(
            "mov r2, %[v]\n\tmov r3, %[v]\n\tmov r4, %[v]\n\tmov r5, %[v]\n\t"
            "mov r6, %[v]\n\tmov r8, %[v]\n\tmov r9, %[v]\n\tmov r10, %[v]\n\t"
            "subs %[w], %[w], #8\n"
            "1:\tstmia %[q]!, {r2-r6, r8-r10}\n\t"
            "subs %[w], %[w], #8\n\t"
            "bge 1b\n\t"
            "adds %[w], %[w], #8"
            : [q] "+r"(q), [w] "+r"(words)
            : [v] "r"(pair)
            : "r2", "r3", "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
    }
    while (words-- > 0)
        *q++ = pair;
    if (n & 1)
        *(uint16_t *)q = color;
}

static void fb_fill(int x, int y, int w, int h, uint16_t color)
{
    if (x < 0) { w += x; x = 0; }
    if (y < 0) { h += y; y = 0; }
    if (w > BOARD_DISPLAY_WIDTH - x) w = BOARD_DISPLAY_WIDTH - x;
    if (h > BOARD_DISPLAY_HEIGHT - y) h = BOARD_DISPLAY_HEIGHT - y;
    if (w <= 0)
        return;
    uint16_t *row = gfx_framebuffer() + y * BOARD_DISPLAY_WIDTH + x;
    for (int j = 0; j < h; j++, row += BOARD_DISPLAY_WIDTH)
        fill_row(row, w, color);
}

/* A filled disc of radius r, as horizontal spans (midpoint circle). */
static void fb_disc(int cx, int cy, int r, uint16_t color)
{
    int x = r, y = 0, err = 1 - r;

    while (x >= y) {
        fb_fill(cx - x, cy - y, 2 * x + 1, 1, color);
        fb_fill(cx - x, cy + y, 2 * x + 1, 1, color);
        fb_fill(cx - y, cy - x, 2 * y + 1, 1, color);
        fb_fill(cx - y, cy + x, 2 * y + 1, 1, color);
        y++;
        if (err < 0) {
            err += 2 * y + 1;
        } else {
            x--;
            err += 2 * (y - x) + 1;
        }
    }
}

/* Text in the library's 5x7 font (gfx_font5x7), drawn straight into the
 * framebuffer: as gfx_text, without a function call per font pixel.
 * Characters that do not fit wholly on the screen are skipped. */
static int fb_text(int x, int y, const char *s, int scale, uint16_t color)
{
    uint16_t *fb = gfx_framebuffer();

    for (; *s; s++, x += GFX_FONT_W * scale) {
        char c = *s;
        if (c < ' ' || c > '~')
            c = '?';
        if (x < 0 || y < 0 || x + 5 * scale > BOARD_DISPLAY_WIDTH ||
            y + 7 * scale > BOARD_DISPLAY_HEIGHT)
            continue;
        const uint8_t *glyph = gfx_font5x7[c - ' '];
        for (int row = 0; row < 7; row++) {
            unsigned bits = glyph[row];
            uint16_t *line = fb + (y + row * scale) * BOARD_DISPLAY_WIDTH + x;
            for (int col = 0; bits; col++, bits = (bits << 1) & 0x1Fu) {
                if (!(bits & 0x10u))
                    continue;
                uint16_t *p = line + col * scale;
                for (int r = 0; r < scale; r++, p += BOARD_DISPLAY_WIDTH)
                    for (int k = 0; k < scale; k++)
                        p[k] = color;
            }
        }
    }
    return x;
}

static void fb_text_centered(int cx, int y, const char *s, int scale, uint16_t color)
{
    fb_text(cx - gfx_text_width(s, scale) / 2, y, s, scale, color);
}

static int isqrt(int v)
{
    int r = 0;
    while ((r + 1) * (r + 1) <= v)
        r++;
    return r;
}

/* A filled rounded rectangle, the corners outside it painted bg (so that
 * every pixel of the w x h box is written once), or left alone if bg is
 * NO_BG. */
#define NO_BG (-1)
static void fb_round(int x, int y, int w, int h, int r, uint16_t color, int bg)
{
    if (r > h / 2) r = h / 2;
    if (r > w / 2) r = w / 2;
    for (int i = 0; i < r; i++) {
        /* Row i from the top (and from the bottom): the circle of radius r
         * around the corner's centre, sampled at the pixel centres. */
        int d2 = 2 * (r - i) - 1;
        int inset = r - (isqrt(4 * r * r - d2 * d2) + 1) / 2;
        for (int k = 0; k < 2; k++) {
            int yy = k ? y + h - 1 - i : y + i;
            if (bg != NO_BG) {
                fb_fill(x, yy, inset, 1, (uint16_t)bg);
                fb_fill(x + w - inset, yy, inset, 1, (uint16_t)bg);
            }
            fb_fill(x + inset, yy, w - 2 * inset, 1, color);
        }
    }
    fb_fill(x, y + r, w, h - 2 * r, color);
}

static void draw_header(const struct header_view *v)
{
    fb_fill(0, 0, SCREEN_W, HEADER_H, C_HEADER);
    fb_text(20, 14, "Home", 4, C_ACCENT);
    fb_text(SCREEN_W - 20 - gfx_text_width(v->clock, 3), 18, v->clock, 3, C_TEXT);
    fb_text(20, 56, v->online, 2, C_DIM);
    const char *lan = v->lan ? "LAN ok" : "LAN --";
    int w = gfx_text_width(lan, 2);
    fb_disc(SCREEN_W - 20 - w - 14, 62, 5, v->lan ? C_OK : C_FAINT);
    fb_text(SCREEN_W - 20 - w, 56, lan, 2, v->lan ? C_OK : C_FAINT);
}

static void draw_banner(const char *text)
{
    if (text[0]) {
        fb_round(BANNER_X, BANNER_Y, BANNER_W, BANNER_H, 12, C_ALERT, C_BG);
        /* A warning sign: a white disc with a "!". */
        fb_disc(BANNER_X + 34, BANNER_Y + BANNER_H / 2, 16, GFX_WHITE);
        fb_text(BANNER_X + 29, BANNER_Y + BANNER_H / 2 - 10, "!", 3, C_ALERT);
        fb_text(BANNER_X + 64, BANNER_Y + (BANNER_H - 21) / 2, text, 3, GFX_WHITE);
    } else {
        fb_round(BANNER_X, BANNER_Y, BANNER_W, BANNER_H, 12, C_HEADER, C_BG);
        fb_disc(BANNER_X + 34, BANNER_Y + BANNER_H / 2, 9, C_OK);
        fb_text(BANNER_X + 64, BANNER_Y + (BANNER_H - 14) / 2, "All quiet at home", 2, C_DIM);
    }
}

static void draw_icon(int cx, int cy, uint8_t kind, int lost)
{
    uint16_t fg = lost ? C_LOST_ICON : kind_color(kind);
    uint16_t white = lost ? GFX_RGB(140, 140, 148) : GFX_WHITE;

    fb_disc(cx, cy, 34, fg);
    switch (kind) {
    case HOME_KIND_WATCH:       /* a watch: straps, face, hands */
        fb_round(cx - 9, cy - 28, 18, 14, 3, white, fg);
        fb_round(cx - 9, cy + 14, 18, 14, 3, white, fg);
        fb_disc(cx, cy, 17, white);
        fb_disc(cx, cy, 13, fg);
        gfx_thick_line(cx, cy, cx, cy - 9, 3, white);
        gfx_thick_line(cx, cy, cx + 7, cy + 2, 3, white);
        break;
    case HOME_KIND_SPEAKER:     /* a speaker box: tweeter and woofer */
        fb_round(cx - 16, cy - 24, 32, 48, 6, white, fg);
        fb_disc(cx, cy - 12, 5, fg);
        fb_disc(cx, cy + 8, 11, fg);
        fb_disc(cx, cy + 8, 4, white);
        break;
    case HOME_KIND_SENSOR:      /* a thermometer */
        fb_round(cx - 7, cy - 26, 14, 40, 7, white, fg);
        fb_disc(cx, cy + 14, 11, white);
        fb_fill(cx - 2, cy - 18, 5, 30, lost ? C_LOST_ICON : C_MERCURY);
        fb_disc(cx, cy + 14, 7, lost ? C_LOST_ICON : C_MERCURY);
        break;
    default:                    /* a phone */
        fb_round(cx - 13, cy - 24, 26, 48, 5, white, fg);
        fb_fill(cx - 9, cy - 18, 18, 32, fg);
        break;
    }
}

static void draw_bars(int right, int bottom, unsigned bars, int lost)
{
    for (unsigned i = 0; i < 4; i++) {
        int h = 8 + 6 * (int)i;
        int x = right - (4 - (int)i) * 12 + 4;
        fb_fill(x, bottom - h, 8, h, i < bars ? C_OK : lost ? C_CARD : C_BAR_OFF);
    }
}

static void draw_card(unsigned slot, const struct card_view *v)
{
    int x0 = CARD_X, y0 = CARD_Y0 + (int)slot * CARD_PITCH;
    uint16_t bg = v->lost ? C_CARD_LOST : C_CARD;

    fb_round(x0, y0, CARD_W, CARD_H, CARD_R, bg, C_BG);
    if (v->flash) {
        gfx_round_rect(x0, y0, CARD_W, CARD_H, CARD_R, GFX_WHITE);
        gfx_round_rect(x0 + 1, y0 + 1, CARD_W - 2, CARD_H - 2, CARD_R - 1, GFX_WHITE);
    } else if (v->alert) {
        for (int i = 0; i < 3; i++)
            gfx_round_rect(x0 + i, y0 + i, CARD_W - 2 * i, CARD_H - 2 * i, CARD_R - i, C_ALERT);
    }

    draw_icon(x0 + ICON_CX, y0 + ICON_CY, v->kind, v->lost);
    fb_text(x0 + TEXT_X, y0 + NAME_Y, v->name, 3, v->lost ? C_FAINT : C_TEXT);
    fb_text(x0 + TEXT_X, y0 + LINE_Y, v->line, 2,
             v->lost ? C_FAINT : v->alert ? GFX_RGB(255, 120, 110) : C_DIM);
    fb_text(x0 + TEXT_X, y0 + FOOT_Y, v->foot, 2, v->noted ? C_ACCENT : C_FAINT);

    draw_bars(x0 + BARS_RIGHT, y0 + 38, v->bars, v->lost);
    if (v->signal[0])
        fb_text(x0 + BARS_RIGHT - 56 - gfx_text_width(v->signal, 2), y0 + 22, v->signal, 2,
                 C_FAINT);
    else
        fb_text(x0 + BARS_RIGHT - 56 - gfx_text_width("lost", 2), y0 + 22, "lost", 2, C_ALERT);

    if (v->pill[0]) {
        uint16_t c = v->lost ? C_FAINT : kind_color(v->kind);
        fb_round(x0 + PILL_X, y0 + PILL_Y, PILL_W, PILL_H, PILL_H / 2, c, bg);
        fb_round(x0 + PILL_X + 2, y0 + PILL_Y + 2, PILL_W - 4, PILL_H - 4, PILL_H / 2 - 2, bg,
                 NO_BG);
        fb_text_centered(x0 + PILL_X + PILL_W / 2, y0 + PILL_Y + 8, v->pill, 2, c);
    }
}

static void draw_placeholder(unsigned slot)
{
    int y0 = CARD_Y0 + (int)slot * CARD_PITCH;

    fb_fill(CARD_X, y0, CARD_W, CARD_H, C_BG);
    gfx_round_rect(CARD_X, y0, CARD_W, CARD_H, CARD_R, C_HEADER);
    fb_text_centered(SCREEN_W / 2, y0 + CARD_H / 2 - 7, "listening on channel 15 ...", 2,
                      C_FAINT);
}

/*
 * Hand the framebuffer to the display without waiting: FRAME_READY now,
 * and no drawing until the vsync that takes the frame has cleared PENDING
 * (present_busy), so a frame is never shown half drawn. The main loop
 * meanwhile goes on with the radio and the LAN, instead of sleeping in
 * gfx_present() for up to a frame.
 */
static void present_start(void)
{
    cpu_dsb();      /* the framebuffer stores before the device write */
    DISPLAY->frame_ready = 1;
}

static int present_busy(void)
{
    return (DISPLAY->status & DISPLAY_STATUS_PENDING) != 0;
}

/* Redraw what changed and present it; returns 1 if anything was drawn. */
static int update_screen(uint32_t now)
{
    int drawn = 0;
    struct header_view hv;
    struct card_view cv;
    char banner[sizeof banner_shown];

    header_view(now, &hv);
    if (!header_valid || memcmp(&hv, &header_shown, sizeof hv) != 0) {
        draw_header(&hv);
        header_shown = hv;
        header_valid = 1;
        drawn = 1;
    }
    banner_view(banner, sizeof banner);
    if (!banner_valid || memcmp(banner, banner_shown, sizeof banner) != 0) {
        draw_banner(banner);
        memcpy(banner_shown, banner, sizeof banner);
        banner_valid = 1;
        drawn = 1;
    }
    for (unsigned slot = 0; slot < MAX_DEVICES; slot++) {
        if (slot < device_count) {
            card_view(&devices[slot], now, &cv);
            if (card_valid[slot] == 1 && memcmp(&cv, &card_shown[slot], sizeof cv) == 0)
                continue;
            draw_card(slot, &cv);
            card_shown[slot] = cv;
            card_valid[slot] = 1;
            drawn = 1;
        } else if (slot == device_count && card_valid[slot] != 2) {
            draw_placeholder(slot);
            card_valid[slot] = 2;
            drawn = 1;
        } else if (slot > device_count && card_valid[slot] != 3) {
            fb_fill(CARD_X, CARD_Y0 + (int)slot * CARD_PITCH, CARD_W, CARD_H, C_BG);
            card_valid[slot] = 3;
            drawn = 1;
        }
    }
    if (drawn)
        present_start();
    return drawn;
}

/* ---- main ------------------------------------------------------------------------- */

int main(void)
{
    static const struct softbus_callbacks cbs = {.peer = on_peer};

    /* The millisecond clock first, so that it counts from (almost) reset
     * and the announcement slots follow virtual time, whatever the time
     * set-up takes (net_init starts it again without resetting it). */
    net_clock_init();
    if (gfx_init() < 0)
        con_puts("home-phone: no display\n");
    if (input_init() < 0)
        con_puts("home-phone: no touch panel\n");

    lan_up = net_init(0, 0) == 0;
    if (lan_up) {
        softbus_init("phone", "phone", "ui", &cbs);
        udp_bind(HOME_UDP_PORT, on_udp);
    }

    uint32_t eui = rmac_eui();
    my_addr = rmac_addr_from_eui(eui);
    if (rmac_init(HOME_CHANNEL, HOME_PAN, my_addr) < 0)
        con_puts("home-phone: no radio\n");
    if (lan_up)
        con_printf("home-phone: %ux%u, eui %u, address 0x%04x, lan %s at %s\n",
                   (unsigned)gfx_width(), (unsigned)gfx_height(), (unsigned)eui,
                   (unsigned)my_addr, softbus_name(), ip_str(net_if.ip));
    else
        con_printf("home-phone: %ux%u, eui %u, address 0x%04x, no lan\n", (unsigned)gfx_width(),
                   (unsigned)gfx_height(), (unsigned)eui, (unsigned)my_addr);

    uint32_t next_announce = HOME_SLOT_MS(my_addr);
    uint32_t next_ui = 0;
    int dirty = 1;
    fb_fill(0, 0, SCREEN_W, BOARD_DISPLAY_HEIGHT, C_BG);

    for (;;) {
        if (lan_up) {
            net_poll();
            softbus_poll();
        }
        uint32_t now = net_now_ms();

        if (rmac_pending()) {
            receive_radio(now);
            dirty = 1;
        }

        struct input_event ev;
        while (input_poll(&ev))
            if (ev.type == INPUT_TOUCH_DOWN) {
                touch(ev.x, ev.y, now);
                dirty = 1;
            }

        if (reached(now, next_ui)) {
            next_ui = now - now % UI_TICK_MS + UI_TICK_MS;
            check_lost(now);
            dirty = 1;
        }

        /* The screen first: a tapped card lights up in the next frame.
         * Then the commands queued meanwhile go out, while the display
         * takes the frame. */
        if (dirty && !present_busy()) {
            update_screen(now);
            dirty = 0;
        }
        run_pending(net_now_ms());

        if (net_time_reached(next_announce)) {
            announce();
            next_announce += 1000;
            if (net_time_reached(next_announce))
                next_announce = now - now % 1000 + 1000 + HOME_SLOT_MS(my_addr);
        }

        /* Sleep until the next millisecond tick, or a frame or touch. */
        cpu_irq_disable();
        if (!rmac_pending() && !input_pending())
            net_idle();
        cpu_irq_enable();
    }
}
