/*
 * speaker: plays a short melody in a loop on the speaker board's stereo
 * output (sine notes with an attack/release envelope, 16 kHz), shows the
 * output level as a meter on its 8 LEDs (about 4.5 dB per LED), and takes
 * two buttons: 0 stops and restarts the melody, 1 steps the volume down
 * 100% -> 50% -> 25% -> 12% -> back to 100%.
 *
 * Everything is paced by the audio device (virtual time); nothing else
 * runs. UART0 gets:
 *   note 523              a note starts (it is heard about 48 ms later,
 *                         after the periods already queued)
 *   button 0 down / up
 *   stop / play
 *   volume 50%
 * It runs until the emulator stops it.
 */
#include <stdint.h>

#include "audio_lib.h"
#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "input.h"
#include "runtime.h"

#if !BOARD_HAS_AUDIO_OUT || !BOARD_HAS_GPIO
#error "speaker needs audio output and GPIO"
#endif

#define RATE_HZ 16000u

void IRQ27_Handler(void) { input_gpio_irq(); }
void IRQ28_Handler(void) { audio_out_irq(); }

/* A little tune of our own; hz 0 is a rest (not printed). */
static const struct note { uint16_t hz, ms; } melody[] = {
    {523, 200}, {659, 200}, {784, 200}, {1047, 400},
    {880, 200}, {784, 200}, {659, 400},
    {698, 200}, {587, 200}, {494, 200}, {523, 600},
    {0, 400},
};
#define MELODY_LEN (sizeof melody / sizeof melody[0])

static const unsigned volumes[] = {256, 128, 64, 32};
#define NUM_VOLUMES (sizeof volumes / sizeof volumes[0])

/* LED n lights from this peak level on: about 4.5 dB apart, the last at
 * -1.5 dBFS. */
static const uint16_t meter_steps[8] = {1300, 2200, 3700, 6200, 10400, 15500, 23000, 27500};

static uint32_t meter_leds(uint32_t level)
{
    unsigned lit = 0;

    while (lit < 8 && level >= meter_steps[lit])
        lit++;
    return (1u << lit) - 1;
}

int main(void)
{
    if (audio_out_init(RATE_HZ) < 0) {
        con_puts("speaker: no audio output\n");
        return 0;
    }
    if (input_init() < 0)
        con_puts("speaker: no buttons\n");
    con_printf("speaker: %u Hz, %u channels, %u-note melody\n",
               (unsigned)audio_out_rate(), BOARD_AUDIO_OUT_CHANNELS, (unsigned)MELODY_LEN);

    unsigned next = 0, vol = 0;
    int playing = 1;
    uint32_t leds = 0;

    audio_set_volume(volumes[vol]);
    for (;;) {
        uint32_t seen = audio_out_periods();

        struct input_event ev;
        while (input_poll(&ev)) {
            if (ev.type != INPUT_BUTTON_DOWN && ev.type != INPUT_BUTTON_UP)
                continue;
            con_printf("button %u %s\n", ev.button,
                       ev.type == INPUT_BUTTON_DOWN ? "down" : "up");
            if (ev.type != INPUT_BUTTON_DOWN)
                continue;
            if (ev.button == 0) {
                playing = !playing;
                if (!playing) {
                    audio_silence();
                    next = 0;           /* play starts the tune again */
                }
                con_puts(playing ? "play\n" : "stop\n");
            } else if (ev.button == 1) {
                vol = (vol + 1) % NUM_VOLUMES;
                audio_set_volume(volumes[vol]);
                con_printf("volume %u%%\n", volumes[vol] * 100 / 256);
            }
        }

        /* The previous note has been queued to the end: start the next. */
        if (playing && !audio_busy()) {
            const struct note *n = &melody[next];
            if (n->hz)
                con_printf("note %u\n", n->hz);
            audio_tone(n->hz, n->ms, AUDIO_SINE);
            next = (next + 1) % MELODY_LEN;
        }

        uint32_t want = meter_leds(audio_level());
        if (want != leds) {
            leds = want;
            led_write(leds);
        }

        /* Sleep until the next audio period or button edge. */
        cpu_irq_disable();
        if (!input_pending() && audio_out_periods() == seen)
            cpu_wfi();
        cpu_irq_enable();
    }
}
