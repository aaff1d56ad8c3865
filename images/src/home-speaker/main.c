/*
 * home-speaker: the smart home's speaker (include/home.h), for the speaker
 * board (stereo output, 3 buttons, 8 LEDs, temperature, Ethernet, radio).
 *
 * It announces itself over the radio once a second in its slot (kind
 * speaker, flag PLAYING while it plays, the temperature reading; also 20-30 ms
 * after a chime starts and after it ends), and on
 * the LAN through the soft bus as "speaker-N" of kind "speaker". The
 * command "chime", by radio or as a UDP datagram to HOME_UDP_PORT (both
 * acknowledged), plays a three-note chime: A5, C#6, E6 (880, 1109,
 * 1319 Hz) sines of 150, 150 and 300 ms at 16 kHz, with the 8 LEDs as a
 * level meter while it sounds. Button 0 plays it locally.
 *
 * The audio output runs only while a chime plays (started for it, stopped
 * once the last note has left the ring), so an idle speaker costs nothing.
 *
 * UART0:
 *   home-speaker: speaker, eui 3, address 0x0003, lan speaker-2 at 10.0.0.3
 *   lan: phone-0 joined (10.0.0.1)       soft-bus peers coming and going
 *   chime (lan)                          a chime starts: by LAN, radio or button
 *   chime done
 *   button 0
 * The lib/net stack owns the dual timer (IRQ 10) and IRQ 13. It runs until the
 * emulator stops it.
 */
#include <stdint.h>

#include "audio_lib.h"
#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "home.h"
#include "input.h"
#include "lan9118.h"
#include "net.h"
#include "radio_mac.h"
#include "sensors.h"
#include "sensors_lib.h"
#include "softbus.h"

#if !BOARD_HAS_RADIO || !BOARD_HAS_AUDIO_OUT || !BOARD_HAS_GPIO
#error "home-speaker needs a radio, audio output and GPIO"
#endif

#define RATE_HZ 16000u
#define NAME    "speaker"

void RADIO_IRQ_HANDLER(void) { rmac_irq(); }
void IRQ27_Handler(void) { input_gpio_irq(); }
void IRQ28_Handler(void) { audio_out_irq(); }

static const struct note { uint16_t hz, ms; } chime[] = {
    {880, 150}, {1109, 150}, {1319, 300},
};
#define CHIME_LEN (sizeof chime / sizeof chime[0])

/* LED n lights from this peak level on (about 4.5 dB apart). */
static const uint16_t meter_steps[8] = {1300, 2200, 3700, 6200, 10400, 15500, 23000, 27500};

static uint16_t addr;
static int lan_up;
static uint32_t next_announce;

/* Sound: the next note of the chime, and whether the output runs. */
static unsigned next_note = CHIME_LEN;
static int audio_on, playing;
static uint32_t stop_after;         /* audio_out_periods() value */
static uint32_t leds_shown;

/* The last command taken (LAN and radio alike: the phone sends a command
 * the LAN did not acknowledge again over the radio with the same id). */
static uint8_t last_id;

/*
 * A change of state is announced ahead of the next slot, but not at once:
 * the phone's commands that caused it (and their acknowledgements) may
 * still be on the air, and a radio does not hear another's frame before it
 * ends, so clear channel assessment cannot keep them apart. 20-30 ms later,
 * by address, the air is free.
 */
static void announce_soon(void)
{
    uint32_t t = net_now_ms() + 20u + addr % 10u;

    if ((int32_t)(t - next_announce) < 0)
        next_announce = t;
}

static uint32_t meter_leds(uint32_t level)
{
    unsigned lit = 0;

    while (lit < 8 && level >= meter_steps[lit])
        lit++;
    return (1u << lit) - 1;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static void start_chime(const char *how)
{
    con_printf("chime (%s)\n", how);
    if (!audio_on) {
        if (audio_out_init(RATE_HZ) < 0) {
            con_puts("home-speaker: no audio output\n");
            return;
        }
        audio_set_volume(256);
        audio_on = 1;
    }
    next_note = 0;
    if (!playing) {
        playing = 1;
        announce_soon();
    }
}

/* Feed the notes; stop the output once the last one has been heard. */
static void run_audio(void)
{
    if (playing && !audio_busy()) {
        if (next_note < CHIME_LEN) {
            audio_tone(chime[next_note].hz, chime[next_note].ms, AUDIO_SINE);
            next_note++;
        } else {
            playing = 0;
            /* What is queued plays for AUDIO_OUT_PERIODS more periods. */
            stop_after = audio_out_periods() + AUDIO_OUT_PERIODS + 1;
            con_puts("chime done\n");
            announce_soon();
        }
    }
    if (audio_on && !playing && (int32_t)(audio_out_periods() - stop_after) >= 0) {
        audio_out_stop();
        audio_on = 0;
    }
    uint32_t leds = audio_on ? meter_leds(audio_level()) : 0;
    if (leds != leds_shown) {
        leds_shown = leds;
        led_write(leds);
    }
}

/* A command by either path; returns after acting on it (or not). */
static void command(uint8_t id, const char *text, const char *how)
{
    if (id == last_id)
        return;     /* a repeat: our acknowledgement was lost */
    last_id = id;
    if (str_eq(text, "chime"))
        start_chime(how);
    else
        con_printf("unknown command (%s): %s\n", how, text);
}

static void on_udp(uint32_t src, uint16_t src_port, uint32_t dst, const uint8_t *data, unsigned len)
{
    uint8_t id, ack[2];
    char text[HOME_TEXT_MAX + 1];

    (void)dst;
    if (home_decode_command(data, len, &id, text) < 0)
        return;
    udp_send(src, HOME_UDP_PORT, src_port, ack, home_encode_ack(ack, id));
    command(id, text, "lan");
}

static void on_peer(const struct softbus_peer *p, enum softbus_event ev)
{
    if (ev == SOFTBUS_JOINED)
        con_printf("lan: %s joined (%s)\n", p->name, ip_str(p->ip));
    else if (ev == SOFTBUS_LEFT)
        con_printf("lan: %s left\n", p->name);
}

static void receive_radio(void)
{
    struct rmac_packet p;
    uint8_t id, ack[2];
    char text[HOME_TEXT_MAX + 1];

    while (rmac_recv(&p)) {
        if (p.dst != addr || home_decode_command(p.payload, p.len, &id, text) < 0)
            continue;
        rmac_send(p.src, ack, home_encode_ack(ack, id));
        command(id, text, "radio");
    }
}

static void announce(void)
{
    struct home_announce a = {
        .kind = HOME_KIND_SPEAKER,
        .flags = playing ? HOME_FLAG_PLAYING : 0,
        .period = 10,
        .name = NAME,
        .count = 1,
    };
    uint8_t buf[HOME_MAX_PAYLOAD];

    a.reading[0].quantity = HOME_Q_TEMPERATURE;
    a.reading[0].value = sensors_read1(SENSOR_CH_TEMPERATURE);
    rmac_send(RADIO_BROADCAST, buf, home_encode_announce(buf, &a));
}

int main(void)
{
    static const struct softbus_callbacks cbs = {.peer = on_peer};

    /* The millisecond clock first, so that it counts from (almost) reset
     * and the announcement slot follows virtual time (net_init starts it
     * again without resetting it). */
    net_clock_init();
    lan_up = net_init(0, 0) == 0;
    if (lan_up) {
        softbus_init("speaker", "speaker", "chime", &cbs);
        udp_bind(HOME_UDP_PORT, on_udp);
    }
    if (input_init() < 0)
        con_puts("home-speaker: no buttons\n");
    if (sensors_init() > 0)
        sensors_enable(SENSOR_CH_TEMPERATURE, SENSOR_HZ(1), 1, 0);
    led_write(0);

    uint32_t eui = rmac_eui();
    addr = rmac_addr_from_eui(eui);
    if (rmac_init(HOME_CHANNEL, HOME_PAN, addr) < 0)
        con_puts("home-speaker: no radio\n");
    if (lan_up)
        con_printf("home-speaker: %s, eui %u, address 0x%04x, lan %s at %s\n", NAME,
                   (unsigned)eui, (unsigned)addr, softbus_name(), ip_str(net_if.ip));
    else
        con_printf("home-speaker: %s, eui %u, address 0x%04x, no lan\n", NAME, (unsigned)eui,
                   (unsigned)addr);
    next_announce = HOME_SLOT_MS(addr);

    for (;;) {
        if (lan_up) {
            net_poll();
            softbus_poll();
        }
        receive_radio();

        struct input_event ev;
        while (input_poll(&ev)) {
            if (ev.type != INPUT_BUTTON_DOWN)
                continue;
            con_printf("button %u\n", ev.button);
            if (ev.button == 0)
                start_chime("button");
        }

        run_audio();

        if (net_time_reached(next_announce)) {
            announce();
            /* The next slot (an early announcement does not move the grid). */
            uint32_t now = net_now_ms();
            next_announce = now - now % 1000u + HOME_SLOT_MS(addr);
            if (net_time_reached(next_announce))
                next_announce += 1000;
        }

        /* Sleep until the next millisecond tick, frame, button or audio
         * period (net_idle: WFI with PRIMASK closing the gap). */
        cpu_irq_disable();
        if (!rmac_pending() && !input_pending())
            net_idle();
        cpu_irq_enable();
    }
}
