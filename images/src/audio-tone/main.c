/*
 * audio-tone: the sound path checked end to end.
 *
 * 1. Listens to the microphone for one second at 16 kHz and prints how
 *    many rising zero crossings it heard ("mic: N crossings in 1 s", so N
 *    is the frequency of a steady tone in hertz) and the peak level.
 * 2. Plays a 1000 Hz sine for 2 s, then a 440 Hz sine for 2 s, at 48 kHz
 *    on every output channel, printing "tone <hz>" as each starts, then
 *    "audio-tone: done".
 *
 * The emulator's WAV output of this image is what the tests analyse.
 */
#include <stdint.h>

#include "audio_lib.h"
#include "board.h"
#include "console.h"
#include "cortex_m.h"

void IRQ28_Handler(void) { audio_out_irq(); }
void IRQ29_Handler(void) { audio_in_irq(); }

#define MIC_RATE 16000u

static void listen(void)
{
    static int16_t buf[256];
    uint32_t got = 0, crossings = 0, peak = 0;
    int16_t last = 0;

    if (audio_in_init(MIC_RATE) < 0) {
        con_puts("audio-tone: no microphone\n");
        return;
    }
    while (got < MIC_RATE) {
        uint32_t n = audio_in_read(buf, 256);
        if (n == 0) {
            __asm volatile("wfi");
            continue;
        }
        for (uint32_t i = 0; i < n && got < MIC_RATE; i++, got++) {
            int16_t s = buf[i];
            if (got > 0 && last < 0 && s >= 0)
                crossings++;
            uint32_t mag = s < 0 ? (uint32_t)(-(int32_t)s) : (uint32_t)s;
            if (mag > peak)
                peak = mag;
            last = s;
        }
    }
    audio_in_stop();
    con_printf("mic: %u crossings in 1 s, peak %u\n", (unsigned)crossings, (unsigned)peak);
}

static void play(uint32_t hz, uint32_t ms)
{
    con_printf("tone %u\n", (unsigned)hz);
    audio_tone(hz, ms, AUDIO_SINE);
    while (audio_busy())
        __asm volatile("wfi");
}

int main(void)
{
    listen();
    if (audio_out_init(48000) < 0) {
        con_puts("audio-tone: no sound output\n");
        return 0;
    }
    audio_set_volume(256);
    play(1000, 2000);
    play(440, 2000);
    /* Let the last periods drain. */
    uint32_t p = audio_out_periods();
    while (audio_out_periods() < p + AUDIO_OUT_PERIODS + 1)
        __asm volatile("wfi");
    audio_out_stop();
    con_puts("audio-tone: done\n");
    return 0;
}
