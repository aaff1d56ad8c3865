/*
 * home-node: a room sensor of the smart home (include/home.h), for the
 * sensor-node board (Cortex-M3, 128 KiB RAM, no FPU: integer arithmetic
 * only).
 *
 * It reads temperature, humidity and light from the sensor hub (latest
 * value, sampled at 1 Hz) and announces them over the radio once per
 * report period (1 s at reset), in its own time slot. Its name comes from
 * its radio EUI, which Ensemble scenarios set to the device's index + 1:
 * EUI 4 is "kitchen", 5 "living", 6 "bedroom", anything else "node-<EUI>".
 *
 * Commands (unicast, acknowledged): "blink" blinks the LED 3 times
 * (150 ms on, 150 ms off); "rate N" announces every N seconds from now on
 * (1..60). The button sends an announcement at once.
 *
 * UART0:
 *   home-node: kitchen, eui 4, address 0x0004, PAN 0x4e53, channel 15
 *   report temp=22.000 hum=45.0 light=300     (every 5th announcement)
 *   blink
 *   rate 2
 *   button
 * Time is SysTick at 100 Hz (virtual time); nothing printed depends on
 * anything but the scenario. It runs until the emulator stops it.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "format.h"
#include "home.h"
#include "input.h"
#include "radio_mac.h"
#include "sensors.h"
#include "sensors_lib.h"

#if !BOARD_HAS_RADIO || !defined(SENSOR_CH_TEMPERATURE) || !defined(SENSOR_CH_HUMIDITY) || \
    !defined(SENSOR_CH_LIGHT)
#error "home-node needs a radio and temperature, humidity and light sensors"
#endif

#define TICK_HZ     100u
#define MS_PER_TICK (1000u / TICK_HZ)
#define BLINKS      3
#define BLINK_MS    150u
#define PRINT_EVERY 5u          /* announcements per "report" line */

static volatile uint32_t ticks;

void SysTick_Handler(void) { ticks++; }
void RADIO_IRQ_HANDLER(void) { rmac_irq(); }
void IRQ27_Handler(void) { input_gpio_irq(); }

static uint32_t now_ms(void) { return ticks * MS_PER_TICK; }
static int reached(uint32_t now, uint32_t t) { return (int32_t)(now - t) >= 0; }

static const struct { uint32_t eui; const char *name; } rooms[] = {
    {4, "kitchen"},
    {5, "living"},
    {6, "bedroom"},
};

static char name[HOME_NAME_MAX + 1];
static uint16_t addr;
static uint32_t period_ms = 1000;
static uint32_t next_report;
static unsigned reports;

/* LED: blink_left half-periods to go, the next one at blink_next. */
static unsigned blink_left;
static uint32_t blink_next;

/* The last command taken, to act on a repeat only once. */
static uint16_t last_src = 0xFFFF;
static uint8_t last_id;

static void set_name(uint32_t eui)
{
    for (unsigned i = 0; i < sizeof rooms / sizeof rooms[0]; i++)
        if (rooms[i].eui == eui) {
            const char *s = rooms[i].name;
            unsigned n = 0;
            while (s[n] && n < HOME_NAME_MAX) {
                name[n] = s[n];
                n++;
            }
            name[n] = 0;
            return;
        }
    char num[FMT_BUF_SIZE];
    fmt_uint(num, eui, 1);
    name[0] = 'n', name[1] = 'o', name[2] = 'd', name[3] = 'e', name[4] = '-';
    unsigned n = 5;
    for (unsigned k = 0; num[k] && n < HOME_NAME_MAX; k++)
        name[n++] = num[k];
    name[n] = 0;
}

/* The first report slot after `now` for the current period. */
static uint32_t next_slot(uint32_t now)
{
    uint32_t t = now - now % period_ms + HOME_SLOT_MS(addr) % period_ms;
    while (!reached(t, now + 1))
        t += period_ms;
    return t;
}

static void announce(void)
{
    struct home_announce a = {
        .kind = HOME_KIND_SENSOR,
        .flags = 0,
        .period = (uint8_t)(period_ms / 100u),
        .count = 3,
    };
    uint8_t buf[HOME_MAX_PAYLOAD];

    for (unsigned i = 0; i <= HOME_NAME_MAX; i++)
        a.name[i] = name[i];
    a.reading[0].quantity = HOME_Q_TEMPERATURE;
    a.reading[0].value = sensors_read1(SENSOR_CH_TEMPERATURE);
    a.reading[1].quantity = HOME_Q_HUMIDITY;
    a.reading[1].value = sensors_read1(SENSOR_CH_HUMIDITY);
    a.reading[2].quantity = HOME_Q_LIGHT;
    a.reading[2].value = sensors_read1(SENSOR_CH_LIGHT);
    rmac_send(RADIO_BROADCAST, buf, home_encode_announce(buf, &a));

    if (reports++ % PRINT_EVERY == 0) {
        char t[FMT_BUF_SIZE], h[FMT_BUF_SIZE], l[FMT_BUF_SIZE];
        fmt_milli(t, a.reading[0].value, 3);
        fmt_milli(h, a.reading[1].value, 1);
        fmt_milli(l, a.reading[2].value, 0);
        con_printf("report temp=%s hum=%s light=%s\n", t, h, l);
    }
}

/* "rate N": N whole seconds, 1..60; 0 if the text is not that. */
static uint32_t parse_rate(const char *s)
{
    uint32_t n = 0;

    if (!*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > 60)
            return 0;
        n = n * 10 + (uint32_t)(*s - '0');
    }
    return n >= 1 && n <= 60 ? n : 0;
}

static int starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static void command(uint16_t src, uint8_t id, const char *text)
{
    uint8_t ack[2];

    rmac_send(src, ack, home_encode_ack(ack, id));
    if (src == last_src && id == last_id)
        return;     /* a repeat: our acknowledgement was lost */
    last_src = src;
    last_id = id;

    uint32_t now = now_ms();
    if (str_eq(text, "blink")) {
        con_puts("blink\n");
        led_set(0);
        blink_left = 2 * BLINKS - 1;
        blink_next = now + BLINK_MS;
    } else if (starts_with(text, "rate ") && parse_rate(text + 5)) {
        uint32_t n = parse_rate(text + 5);
        con_printf("rate %u\n", (unsigned)n);
        period_ms = n * 1000u;
        next_report = next_slot(now);
    } else {
        con_printf("unknown command: %s\n", text);
    }
}

static void receive(void)
{
    struct rmac_packet p;
    uint8_t id;
    char text[HOME_TEXT_MAX + 1];

    while (rmac_recv(&p)) {
        /* Announcements of the others are of no interest here. */
        if (p.dst == addr && home_decode_command(p.payload, p.len, &id, text) == 0)
            command(p.src, id, text);
    }
}

int main(void)
{
    static const struct { unsigned ch; uint32_t type; } wanted[] = {
        {SENSOR_CH_TEMPERATURE, SENSOR_TYPE_TEMPERATURE},
        {SENSOR_CH_HUMIDITY, SENSOR_TYPE_HUMIDITY},
        {SENSOR_CH_LIGHT, SENSOR_TYPE_LIGHT},
    };

    /* The clock first: announcement slots count from (almost) reset. */
    SYSTICK->load = SYSCLK_HZ / TICK_HZ - 1;
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;
    if (sensors_init() < 0)
        con_puts("home-node: no sensor hub\n");
    for (unsigned i = 0; i < 3; i++) {
        if (sensors_type(wanted[i].ch) != wanted[i].type)
            con_printf("home-node: channel %u is not %s\n", wanted[i].ch,
                       sensors_type_name(wanted[i].type));
        sensors_enable(wanted[i].ch, SENSOR_HZ(1), 1, 0);
    }
    led_clear(0);
    input_init();

    uint32_t eui = rmac_eui();
    addr = rmac_addr_from_eui(eui);
    set_name(eui);
    if (rmac_init(HOME_CHANNEL, HOME_PAN, addr) < 0) {
        con_puts("home-node: no radio\n");
        return 0;
    }
    con_printf("home-node: %s, eui %u, address 0x%04x, PAN 0x%04x, channel %u\n", name,
               (unsigned)eui, (unsigned)addr, (unsigned)HOME_PAN, (unsigned)HOME_CHANNEL);

    next_report = next_slot(0);

    for (;;) {
        uint32_t seen = ticks;
        uint32_t now = now_ms();

        receive();

        struct input_event ev;
        while (input_poll(&ev))
            if (ev.type == INPUT_BUTTON_DOWN) {
                con_puts("button\n");
                announce();
            }

        if (blink_left && reached(now, blink_next)) {
            led_toggle(0);
            blink_left--;
            blink_next += BLINK_MS;
        }

        if (reached(now, next_report)) {
            announce();
            next_report += period_ms;
            if (reached(now, next_report))     /* fell behind: skip, do not burst */
                next_report = next_slot(now);
        }

        /* Sleep until the next tick, frame or button; PRIMASK closes the
         * gap between the test and the WFI. */
        cpu_irq_disable();
        if (!rmac_pending() && !input_pending() && ticks == seen)
            cpu_wfi();
        cpu_irq_enable();
    }
}
