/*
 * watch-face: a smartwatch face on the watch board's 240x240 display.
 *
 * Two screens: an analogue face (hands, digital time, steps and heart
 * rate) and an activity screen (steps with a progress bar towards 10000,
 * heart rate, time). The clock is virtual time from SysTick (100 Hz),
 * starting at 10:08:00. Steps and heart rate are the sensor hub's latest
 * values; the accelerometer turns the drawing so that it stays upright
 * when the wrist is tilted (gravity along +y: normal, -y: 180 degrees,
 * +x: 90, -x: 270; flat: unchanged).
 *
 * Input: a touch anywhere toggles the screen (and pulses GPIO output 0,
 * a haptic motor, for 100 ms); button 0 toggles the backlight (nothing is
 * drawn while it is off); button 1 toggles the screen too.
 *
 * UART0 gets a line per event handled and every 5 s of virtual time:
 *   touch x=120 y=64
 *   screen stats
 *   button 0 down / button 0 up
 *   backlight off
 *   rotate 90
 *   steps=1234 hr=72
 * It runs until the emulator stops it.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "gfx.h"
#include "input.h"
#include "runtime.h"
#include "sensors.h"
#include "sensors_lib.h"

#if !BOARD_HAS_DISPLAY || !BOARD_HAS_SENSORS || !defined(SENSOR_CH_ACCEL) || \
    !defined(SENSOR_CH_STEPS) || !defined(SENSOR_CH_HEART_RATE)
#error "watch-face needs a display and accel, steps and heart-rate sensors"
#endif

#define TICK_HZ        100u
#define START_TIME_S   (10u * 3600 + 8u * 60)      /* 10:08:00 at reset */
#define REPORT_TICKS   (5u * TICK_HZ)
#define ACCEL_TICKS    (TICK_HZ / 10)              /* look at the tilt 10x/s */
#define HAPTIC_TICKS   (TICK_HZ / 10)
#define STEP_GOAL      10000u

/* Tilt: one axis must show more than TILT m/s^2 (milli-units), and beat
 * the other by MARGIN, before the drawing turns (hysteresis near 45
 * degrees and near flat). */
#define TILT           5000
#define MARGIN         2000

#define DIAL_COLOR     GFX_RGB(16, 28, 48)

static volatile uint32_t ticks;

void SysTick_Handler(void) { ticks++; }
void IRQ25_Handler(void) { gfx_vsync_irq(); }
void IRQ26_Handler(void) { input_touch_irq(); }
void IRQ27_Handler(void) { input_gpio_irq(); }

enum screen { SCREEN_FACE, SCREEN_STATS };

static enum screen screen = SCREEN_FACE;
static int backlight = 1;
static uint32_t steps, heart_rate;
static uint32_t haptic_until;

/* ---- integer trigonometry for 60 dial positions ------------------------------ */

/* sin(6 degrees * k) * 1024 for k = 0..15 (0..90 degrees). */
static const int16_t sin6[16] = {
    0, 107, 213, 316, 416, 512, 602, 685, 761, 828, 887, 935, 974, 1002, 1018, 1024,
};

static int dial_sin(unsigned i)     /* i in sixtieths of a turn, clockwise from 12 */
{
    i %= 60;
    if (i <= 15) return sin6[i];
    if (i <= 30) return sin6[30 - i];
    if (i <= 45) return -sin6[i - 30];
    return -sin6[60 - i];
}

static int dial_cos(unsigned i) { return dial_sin(i + 15); }

/* Point at distance len from (cx, cy) towards dial position i. */
static int dial_x(int cx, unsigned i, int len) { return cx + dial_sin(i) * len / 1024; }
static int dial_y(int cy, unsigned i, int len) { return cy - dial_cos(i) * len / 1024; }

/* ---- drawing ------------------------------------------------------------------ */

/* Copy s to the end of a string at p (which points at its NUL). */
static void append(char *p, const char *s)
{
    while ((*p++ = *s++))
        ;
}

static void format_time(char *buf, uint32_t t, int with_seconds)
{
    unsigned h = t / 3600 % 24, m = t / 60 % 60, s = t % 60;
    char *p = buf;

    p += fmt_uint(p, h, 2);
    *p++ = ':';
    p += fmt_uint(p, m, 2);
    if (with_seconds) {
        *p++ = ':';
        p += fmt_uint(p, s, 2);
    }
    *p = '\0';
}

static void draw_face(uint32_t t)
{
    int w = gfx_width(), h = gfx_height();
    int cx = w / 2, cy = h / 2;
    int r = (w < h ? w : h) / 2 - 4;
    char buf[32];

    gfx_clear(GFX_BLACK);
    gfx_fill_circle(cx, cy, r, DIAL_COLOR);
    gfx_circle(cx, cy, r, GFX_GRAY);

    /* Hour marks long and white, minute marks as dots. */
    for (unsigned i = 0; i < 60; i++) {
        if (i % 5 == 0)
            gfx_thick_line(dial_x(cx, i, r - r / 7), dial_y(cy, i, r - r / 7),
                           dial_x(cx, i, r - 4), dial_y(cy, i, r - 4), 3, GFX_WHITE);
        else
            gfx_fill_rect(dial_x(cx, i, r - 5) - 1, dial_y(cy, i, r - 5) - 1, 2, 2, GFX_GRAY);
    }

    format_time(buf, t, 0);
    gfx_text_centered(cx, cy - r / 2 - 4, buf, 3, GFX_WHITE);

    fmt_uint(buf, steps, 1);
    gfx_text_centered(cx, cy + r / 3, buf, 2, GFX_GREEN);
    append(buf + fmt_uint(buf, heart_rate, 1), " bpm");
    gfx_text_centered(cx, cy + r / 3 + 20, buf, 2, GFX_RED);

    /* Hands: hour (moves with the minutes), minute, second. */
    unsigned hh = t / 3600 % 12, mm = t / 60 % 60, ss = t % 60;
    unsigned hour_pos = hh * 5 + mm / 12;
    gfx_thick_line(cx, cy, dial_x(cx, hour_pos, r / 2), dial_y(cy, hour_pos, r / 2), 5, GFX_WHITE);
    gfx_thick_line(cx, cy, dial_x(cx, mm, r * 3 / 4), dial_y(cy, mm, r * 3 / 4), 3, GFX_WHITE);
    gfx_line(cx, cy, dial_x(cx, ss, r * 7 / 8), dial_y(cy, ss, r * 7 / 8), GFX_ORANGE);
    gfx_fill_circle(cx, cy, 5, GFX_ORANGE);
}

static void draw_stats(uint32_t t)
{
    int w = gfx_width(), h = gfx_height();
    int cx = w / 2;
    char buf[32];

    gfx_clear(GFX_BLACK);
    gfx_text_centered(cx, 12, "ACTIVITY", 2, GFX_CYAN);

    gfx_text(20, 42, "STEPS", 2, GFX_GRAY);
    fmt_uint(buf, steps, 1);
    gfx_text(20, 62, buf, 4, GFX_WHITE);

    /* Progress towards the goal. */
    int bar_w = w - 40, fill = (int)((steps > STEP_GOAL ? STEP_GOAL : steps) * (uint32_t)(bar_w - 4) / STEP_GOAL);
    gfx_round_rect(20, 100, bar_w, 16, 8, GFX_GRAY);
    if (fill > 0)
        gfx_fill_round_rect(22, 102, fill, 12, 6, GFX_GREEN);

    gfx_text(20, 130, "HEART", 2, GFX_GRAY);
    fmt_uint(buf, heart_rate, 1);
    int x = gfx_text(20, 150, buf, 4, GFX_RED);
    gfx_text(x + 4, 164, "bpm", 2, GFX_RED);
    /* A pulse dot that beats once a second. */
    gfx_fill_circle(w - 32, 166, t % 2 ? 7 : 10, GFX_RED);

    format_time(buf, t, 1);
    gfx_text_centered(cx, h - 30, buf, 2, GFX_WHITE);
}

/* ---- events ------------------------------------------------------------------- */

static void toggle_screen(void)
{
    screen = screen == SCREEN_FACE ? SCREEN_STATS : SCREEN_FACE;
    con_printf("screen %s\n", screen == SCREEN_FACE ? "face" : "stats");
}

/* Returns 1 if the screen must be redrawn. */
static int handle(const struct input_event *ev)
{
    switch (ev->type) {
    case INPUT_TOUCH_DOWN:
        con_printf("touch x=%u y=%u\n", ev->x, ev->y);
        toggle_screen();
        led_set(0);
        haptic_until = ticks + HAPTIC_TICKS;
        return 1;
    case INPUT_BUTTON_DOWN:
        con_printf("button %u down\n", ev->button);
        if (ev->button == 0) {
            backlight = !backlight;
            gfx_set_backlight(backlight ? 255 : 0);
            con_printf("backlight %s\n", backlight ? "on" : "off");
            return 1;
        }
        if (ev->button == 1) {
            toggle_screen();
            return 1;
        }
        return 0;
    case INPUT_BUTTON_UP:
        con_printf("button %u up\n", ev->button);
        return 0;
    default:            /* moves and lifts of the finger: nothing to do */
        return 0;
    }
}

static int abs32(int32_t v) { return v < 0 ? -v : v; }

/* Turn the drawing to follow gravity; returns 1 if it turned. */
static int follow_tilt(void)
{
    int32_t a[3];
    unsigned rot = gfx_rotation();

    sensors_read(SENSOR_CH_ACCEL, a);
    int ax = abs32(a[0]), ay = abs32(a[1]);
    if (ay > TILT && ay > ax + MARGIN)
        rot = a[1] > 0 ? 0 : 2;
    else if (ax > TILT && ax > ay + MARGIN)
        rot = a[0] > 0 ? 1 : 3;
    if (rot == gfx_rotation())
        return 0;
    gfx_set_rotation(rot);
    con_printf("rotate %u\n", rot * 90);
    return 1;
}

static uint32_t whole(int32_t milli)
{
    return milli <= 0 ? 0 : ((uint32_t)milli + 500) / 1000;
}

static void read_activity(void)
{
    steps = whole(sensors_read1(SENSOR_CH_STEPS));
    heart_rate = whole(sensors_read1(SENSOR_CH_HEART_RATE));
}

int main(void)
{
    static const struct { unsigned ch; uint32_t type; uint32_t rate; } wanted[] = {
        {SENSOR_CH_ACCEL, SENSOR_TYPE_ACCEL, SENSOR_HZ(10)},
        {SENSOR_CH_HEART_RATE, SENSOR_TYPE_HEART_RATE, SENSOR_HZ(1)},
        {SENSOR_CH_STEPS, SENSOR_TYPE_STEPS, SENSOR_HZ(1)},
    };

    if (gfx_init() < 0) {
        con_puts("watch-face: no display\n");
        return 0;
    }
    if (input_init() < 0)
        con_puts("watch-face: no touch panel or buttons\n");
    if (sensors_init() < 0) {
        con_puts("watch-face: no sensor hub\n");
        return 0;
    }
    for (unsigned i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        uint32_t type = sensors_type(wanted[i].ch);
        if (type != wanted[i].type)
            con_printf("watch-face: channel %u is %s, expected %s\n", wanted[i].ch,
                       sensors_type_name(type), sensors_type_name(wanted[i].type));
        /* Only the latest values are used: no FIFO, no interrupt. */
        sensors_enable(wanted[i].ch, wanted[i].rate, 1, 0);
    }
    con_printf("watch-face: %ux%u display, clock from 10:08:00\n",
               (unsigned)gfx_width(), (unsigned)gfx_height());

    SYSTICK->load = SYSCLK_HZ / TICK_HZ - 1;
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;

    uint32_t shown_second = 0xFFFFFFFFu;
    uint32_t next_report = REPORT_TICKS, next_tilt = 0;
    int dirty = 1;

    for (;;) {
        struct input_event ev;
        while (input_poll(&ev))
            dirty |= handle(&ev);

        uint32_t now = ticks;
        if (haptic_until && now >= haptic_until) {
            led_clear(0);
            haptic_until = 0;
        }
        if (now >= next_tilt) {
            next_tilt = now + ACCEL_TICKS;
            dirty |= follow_tilt();
        }
        if (now / TICK_HZ != shown_second) {
            shown_second = now / TICK_HZ;
            read_activity();
            dirty = 1;
        }
        if (now >= next_report) {
            next_report += REPORT_TICKS;
            read_activity();
            con_printf("steps=%u hr=%u\n", (unsigned)steps, (unsigned)heart_rate);
        }
        if (dirty && backlight) {
            uint32_t t = START_TIME_S + shown_second;
            if (screen == SCREEN_FACE)
                draw_face(t);
            else
                draw_stats(t);
            gfx_present();
            dirty = 0;
        }

        /* Sleep until the next tick or input event; PRIMASK closes the
         * gap between the test and the WFI. */
        cpu_irq_disable();
        if (!input_pending() && ticks == now)
            cpu_wfi();
        cpu_irq_enable();
    }
}
