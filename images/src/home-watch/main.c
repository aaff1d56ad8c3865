/*
 * home-watch: the smart home's watch (include/home.h), for the watch board
 * (240x240 touchscreen, 2 buttons, 1 LED / vibration motor on GPIO output
 * 0, mono speaker, heart-rate and step sensors, radio).
 *
 * A compact face: the time (virtual, from HOME_CLOCK_START_S), a bar for
 * the seconds, heart rate and steps, and whether the phone is in reach
 * (heard within 3 s; red while the phone reports an alert). It announces
 * itself over the radio once a second in its slot (kind watch, readings
 * heart rate and steps).
 *
 * The command "msg TEXT" (radio, acknowledged) shows TEXT over the face
 * for 5 s (a tap dismisses it), pulses the vibration motor (GPIO out 0,
 * LED 0) twice and beeps twice (1568 Hz, then 2093 Hz). The audio output
 * runs only while it beeps.
 *
 * UART0:
 *   home-watch: watch, eui 2, address 0x0002, 240x240
 *   msg: ALERT kitchen 30.4C
 *   touch: message dismissed
 * SysTick at 100 Hz; it runs until the emulator stops it.
 */
#include <stdint.h>

#include "audio_lib.h"
#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "format.h"
#include "gfx.h"
#include "home.h"
#include "input.h"
#include "radio_mac.h"
#include "sensors.h"
#include "sensors_lib.h"

#if !BOARD_HAS_RADIO || !BOARD_HAS_DISPLAY || !defined(SENSOR_CH_HEART_RATE) || \
    !defined(SENSOR_CH_STEPS)
#error "home-watch needs a radio, a display and heart-rate and step sensors"
#endif

#define TICK_HZ      100u
#define MS_PER_TICK  (1000u / TICK_HZ)
#define NAME         "watch"
#define MSG_MS       5000u
#define RATE_HZ      16000u

#define BG           GFX_BLACK
#define DIM          GFX_RGB(120, 130, 150)
#define TEAL         GFX_RGB(0, 190, 210)
#define HEART        GFX_RGB(235, 60, 80)
#define STEPS_GREEN  GFX_RGB(80, 220, 120)
#define TRACK        GFX_RGB(40, 44, 56)
#define MSG_BLUE     GFX_RGB(20, 60, 140)
#define MSG_RED      GFX_RGB(170, 30, 30)
#define LINE_PITCH   22          /* text lines of scale 2 in the message card */

static volatile uint32_t ticks;

void SysTick_Handler(void) { ticks++; }
void RADIO_IRQ_HANDLER(void) { rmac_irq(); }
void IRQ25_Handler(void) { gfx_vsync_irq(); }
void IRQ26_Handler(void) { input_touch_irq(); }
void IRQ27_Handler(void) { input_gpio_irq(); }
void IRQ28_Handler(void) { audio_out_irq(); }

static uint32_t now_ms(void) { return ticks * MS_PER_TICK; }
static int reached(uint32_t now, uint32_t t) { return (int32_t)(now - t) >= 0; }

static uint16_t addr;
static uint32_t next_announce;
static int32_t heart_rate, steps;     /* milli-units */

/* The phone: when last heard, and whether it shows an alert. */
static uint32_t phone_heard;
static int phone_seen, phone_alert;

/* The message overlay. */
static char message[HOME_TEXT_MAX + 1];
static int message_shown;
static uint32_t message_until;

/* Vibration: toggles left and when the next one is due. */
static unsigned buzz_left;
static uint32_t buzz_next;

/* Beeps: a note sequence, played with the output started for it. */
static const struct note { uint16_t hz, ms; } beep[] = {{1568, 90}, {0, 60}, {2093, 120}};
#define BEEP_LEN (sizeof beep / sizeof beep[0])
static unsigned next_note = BEEP_LEN;
static int audio_on, beeping;
static uint32_t stop_after;

static uint8_t last_id;
static uint16_t last_src = 0xFFFF;

/* ---- strings --------------------------------------------------------------- */

static void scat(char *dst, unsigned size, const char *s)
{
    unsigned n = 0;
    while (dst[n])
        n++;
    while (*s && n + 1 < size)
        dst[n++] = *s++;
    dst[n] = 0;
}

static int starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

/* ---- drawing --------------------------------------------------------------- */

static void draw_heart(int cx, int cy, uint16_t color)
{
    gfx_fill_circle(cx - 6, cy - 3, 6, color);
    gfx_fill_circle(cx + 6, cy - 3, 6, color);
    for (int row = 0; row < 12; row++)
        gfx_fill_rect(cx - 12 + row, cy - 1 + row, 25 - 2 * row, 1, color);
}

static void draw_feet(int cx, int cy, uint16_t color)
{
    gfx_fill_round_rect(cx - 10, cy - 11, 8, 14, 4, color);
    gfx_fill_round_rect(cx - 10, cy + 5, 8, 5, 2, color);
    gfx_fill_round_rect(cx + 2, cy - 7, 8, 14, 4, color);
    gfx_fill_round_rect(cx + 2, cy + 9, 8, 5, 2, color);
}

/* Split text into lines of at most `width` characters at spaces and draw
 * them (if draw is set); returns the number of lines. */
static int draw_wrapped(int x, int y, const char *text, unsigned width, int scale,
                        uint16_t color, int draw)
{
    char line[32];
    int lines = 0;

    while (*text) {
        unsigned n = 0, cut = 0;
        while (text[n] && n < width) {
            if (text[n] == ' ')
                cut = n;
            n++;
        }
        if (text[n] && text[n] != ' ' && cut)
            n = cut;            /* break at the last space */
        for (unsigned i = 0; i < n; i++)
            line[i] = text[i];
        line[n] = 0;
        if (draw)
            gfx_text(x, y, line, scale, color);
        y += LINE_PITCH;
        lines++;
        text += n;
        while (*text == ' ')
            text++;
    }
    return lines;
}

static void format_time(char *buf, uint32_t now)
{
    uint32_t t = HOME_CLOCK_START_S + now / 1000u;
    char *p = buf;

    p += fmt_uint(p, t / 3600 % 24, 2);
    *p++ = ':';
    fmt_uint(p, t / 60 % 60, 2);
}

/* A message: the time small at the top, the text on a card below (blue,
 * or red for an alert), sized to the text (at most 6 lines). */
static void draw_message(uint32_t now)
{
    int alert = starts_with(message, "ALERT");
    const char *body = alert ? message + 6 : message;
    char buf[8];

    format_time(buf, now);
    gfx_text_centered(120, 10, buf, 3, DIM);
    int lines = draw_wrapped(0, 0, body, 16, 2, 0, 0);
    if (lines > 6)
        lines = 6;
    int h = 58 + lines * LINE_PITCH;
    int y = 40 + (196 - h) / 2;
    gfx_fill_round_rect(10, y, 220, h, 16, alert ? MSG_RED : MSG_BLUE);
    gfx_round_rect(10, y, 220, h, 16, GFX_WHITE);
    gfx_text_centered(120, y + 12, alert ? "ALERT" : "MESSAGE", 2, GFX_WHITE);
    gfx_fill_rect(30, y + 34, 180, 2, GFX_WHITE);
    draw_wrapped(24, y + 46, body, 16, 2, GFX_WHITE, 1);
}

static void draw(uint32_t now)
{
    unsigned s = (HOME_CLOCK_START_S + now / 1000u) % 60;
    char buf[32];

    gfx_clear(BG);
    if (message_shown) {
        draw_message(now);
        gfx_present();
        return;
    }

    /* Time, and a bar filling up over the minute. */
    format_time(buf, now);
    gfx_text_centered(120, 34, buf, 7, GFX_WHITE);
    gfx_fill_round_rect(30, 96, 180, 6, 3, TRACK);
    gfx_fill_round_rect(30, 96, 6 + (int)s * 174 / 59, 6, 3, TEAL);

    /* Heart rate and steps. */
    draw_heart(46, 128, HEART);
    fmt_uint(buf, (uint32_t)(heart_rate + 500) / 1000u, 1);
    int x = gfx_text(70, 118, buf, 3, GFX_WHITE);
    gfx_text(x + 4, 125, "bpm", 2, DIM);

    draw_feet(46, 168, STEPS_GREEN);
    fmt_uint(buf, steps > 0 ? (uint32_t)(steps + 500) / 1000u : 0, 1);
    x = gfx_text(70, 158, buf, 3, GFX_WHITE);
    gfx_text(x + 4, 165, "steps", 2, DIM);

    /* The phone's reach. */
    int near = phone_seen && !reached(now, phone_heard + HOME_LOST_MS);
    uint16_t c = !near ? DIM : phone_alert ? HEART : STEPS_GREEN;
    gfx_fill_circle(84, 212, 6, c);
    gfx_text(96, 205, near ? (phone_alert ? "alert" : "phone") : "no phone", 2, c);
    gfx_present();
}

/* ---- sound and vibration ----------------------------------------------------- */

static void run_audio(void)
{
    if (beeping && !audio_busy()) {
        if (next_note < BEEP_LEN) {
            audio_tone(beep[next_note].hz, beep[next_note].ms, AUDIO_SINE);
            next_note++;
        } else {
            beeping = 0;
            stop_after = audio_out_periods() + AUDIO_OUT_PERIODS + 1;
        }
    }
    if (audio_on && !beeping && (int32_t)(audio_out_periods() - stop_after) >= 0) {
        audio_out_stop();
        audio_on = 0;
    }
}

static void alert_user(uint32_t now)
{
    led_set(0);
    buzz_left = 3;              /* on 200, off 100, on 200 */
    buzz_next = now + 200;
    if (!audio_on && audio_out_init(RATE_HZ) == 0)
        audio_on = 1;
    if (audio_on) {
        next_note = 0;
        beeping = 1;
    }
}

static void run_buzz(uint32_t now)
{
    if (buzz_left && reached(now, buzz_next)) {
        led_toggle(0);
        buzz_left--;
        buzz_next += buzz_left == 2 ? 100 : 200;
    }
}

/* ---- radio ------------------------------------------------------------------- */

static void announce(void)
{
    struct home_announce a = {
        .kind = HOME_KIND_WATCH,
        .period = 10,
        .name = NAME,
        .count = 2,
    };
    uint8_t buf[HOME_MAX_PAYLOAD];

    a.reading[0].quantity = HOME_Q_HEART_RATE;
    a.reading[0].value = heart_rate;
    a.reading[1].quantity = HOME_Q_STEPS;
    a.reading[1].value = steps;
    rmac_send(RADIO_BROADCAST, buf, home_encode_announce(buf, &a));
}

/* Returns 1 if the screen must be redrawn. */
static int receive(uint32_t now)
{
    struct rmac_packet p;
    struct home_announce a;
    uint8_t id, ack[2];
    char text[HOME_TEXT_MAX + 1];
    int dirty = 0;

    while (rmac_recv(&p)) {
        if (home_decode_announce(p.payload, p.len, &a) == 0) {
            if (a.kind == HOME_KIND_PHONE) {
                int alert = (a.flags & HOME_FLAG_ALERT) != 0;
                dirty |= !phone_seen || alert != phone_alert;
                phone_seen = 1;
                phone_heard = now;
                phone_alert = alert;
            }
            continue;
        }
        if (p.dst != addr || home_decode_command(p.payload, p.len, &id, text) < 0)
            continue;
        rmac_send(p.src, ack, home_encode_ack(ack, id));
        if (p.src == last_src && id == last_id)
            continue;   /* a repeat: our acknowledgement was lost */
        last_src = p.src;
        last_id = id;
        if (starts_with(text, "msg ")) {
            con_printf("msg: %s\n", text + 4);
            message[0] = 0;
            scat(message, sizeof message, text + 4);
            message_shown = 1;
            message_until = now + MSG_MS;
            alert_user(now);
            dirty = 1;
        } else {
            con_printf("unknown command: %s\n", text);
        }
    }
    return dirty;
}

int main(void)
{
    /* The clock first: announcement slots count from (almost) reset. */
    SYSTICK->load = SYSCLK_HZ / TICK_HZ - 1;
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;
    if (gfx_init() < 0)
        con_puts("home-watch: no display\n");
    if (input_init() < 0)
        con_puts("home-watch: no touch panel or buttons\n");
    if (sensors_init() > 0) {
        sensors_enable(SENSOR_CH_HEART_RATE, SENSOR_HZ(1), 1, 0);
        sensors_enable(SENSOR_CH_STEPS, SENSOR_HZ(1), 1, 0);
    }
    led_clear(0);

    uint32_t eui = rmac_eui();
    addr = rmac_addr_from_eui(eui);
    if (rmac_init(HOME_CHANNEL, HOME_PAN, addr) < 0)
        con_puts("home-watch: no radio\n");
    con_printf("home-watch: %s, eui %u, address 0x%04x, %ux%u\n", NAME, (unsigned)eui,
               (unsigned)addr, (unsigned)gfx_width(), (unsigned)gfx_height());

    next_announce = HOME_SLOT_MS(addr);

    uint32_t shown_second = 0xFFFFFFFFu;
    int dirty = 1;
    for (;;) {
        uint32_t seen = ticks;
        uint32_t now = now_ms();

        dirty |= receive(now);

        struct input_event ev;
        while (input_poll(&ev))
            if (ev.type == INPUT_TOUCH_DOWN && message_shown) {
                con_puts("touch: message dismissed\n");
                message_shown = 0;
                dirty = 1;
            }

        if (message_shown && reached(now, message_until)) {
            message_shown = 0;
            dirty = 1;
        }
        run_buzz(now);
        run_audio();

        if (now / 1000u != shown_second) {
            shown_second = now / 1000u;
            heart_rate = sensors_read1(SENSOR_CH_HEART_RATE);
            steps = sensors_read1(SENSOR_CH_STEPS);
            dirty = 1;
        }
        if (reached(now, next_announce)) {
            announce();
            next_announce += 1000;
            if (reached(now, next_announce))
                next_announce = now - now % 1000 + 1000 + HOME_SLOT_MS(addr);
        }
        if (dirty) {
            draw(now);
            dirty = 0;
            continue;   /* drawing took time: look again before sleeping */
        }

        cpu_irq_disable();
        if (!rmac_pending() && !input_pending() && ticks == seen)
            cpu_wfi();
        cpu_irq_enable();
    }
}
