/*
 * Sound through the AUO1 output and recording from the AUI1 input
 * (register-level documentation: include/audio.h; this is the library
 * over it, lib/audio.c), for boards with BOARD_HAS_AUDIO_OUT / _IN.
 *
 * Output: a ring of AUDIO_OUT_PERIODS periods of AUDIO_PERIOD_FRAMES
 * frames in RAM, in the board's channel count (a mono voice is written to
 * every channel). The period interrupt refills whatever the device has
 * consumed from one voice: a tone (square, sine or triangle, with a 5 ms
 * attack and a release over its last 40 ms or quarter), a rest, or a PCM
 * clip. Integer arithmetic only. A new sound is heard after the periods
 * already queued (AUDIO_OUT_PERIODS - 1 periods: 48 ms at 16 kHz).
 *
 * Input: the device captures into a ring of AUDIO_IN_PERIODS periods;
 * audio_in_read() takes what has arrived.
 *
 * The library does not own the vector table; an image routes the
 * interrupts it uses (audio_*_init enables them in the NVIC):
 *
 *     void IRQ28_Handler(void) { audio_out_irq(); }
 *     void IRQ29_Handler(void) { audio_in_irq(); }
 */
#ifndef ENSEMBLE_AUDIO_LIB_H
#define ENSEMBLE_AUDIO_LIB_H

#include <stdint.h>

#define AUDIO_PERIOD_FRAMES 256u
#define AUDIO_OUT_PERIODS   4u
#define AUDIO_IN_PERIODS    8u

enum audio_wave { AUDIO_SQUARE, AUDIO_SINE, AUDIO_TRIANGLE };

/* ---- output ---------------------------------------------------------------- */

/*
 * Configure AUO1 at rate_hz (8000..48000), queue silence and start it.
 * Returns 0, or -1 if there is no AUO1 or it refused the configuration.
 */
int audio_out_init(uint32_t rate_hz);
void audio_out_stop(void);
uint32_t audio_out_rate(void);      /* as the device clamped it */

/* Master volume, 0 (mute) .. 256 (full); applies from the next refill. */
void audio_set_volume(unsigned volume);

/*
 * Replace the sound with a tone of hz for ms milliseconds (hz = 0: a rest,
 * silence that still counts as playing). Full scale for sine and triangle,
 * half scale for square, times the master volume.
 */
void audio_tone(uint32_t hz, uint32_t ms, enum audio_wave wave);
/* Replace the sound with a mono clip at the output rate (not copied: the
 * samples must stay valid while it plays). */
void audio_pcm(const int16_t *samples, uint32_t frames);
void audio_silence(void);

/* 1 while a tone, rest or clip still has samples to queue. */
int audio_busy(void);

/* Peak |sample| (0..32767) of the period the device fetched last, i.e.
 * roughly what is playing now. */
uint32_t audio_level(void);

/* Period interrupts handled; any change tells a sleeping main loop that
 * audio_busy()/audio_level() may have changed. */
uint32_t audio_out_periods(void);
/* Underruns the device counted (XRUNS). */
uint32_t audio_out_underruns(void);

void audio_out_irq(void);

/* ---- input -------------------------------------------------------------------- */

/* Start capturing at rate_hz into the library's ring. 0, or -1 without AUI1. */
int audio_in_init(uint32_t rate_hz);
void audio_in_stop(void);

/* Copy up to max_samples captured samples (whole frames, channels
 * interleaved) into dst; returns how many. */
uint32_t audio_in_read(int16_t *dst, uint32_t max_samples);

uint32_t audio_in_periods(void);    /* period interrupts handled */
uint32_t audio_in_overruns(void);   /* periods the device dropped */

void audio_in_irq(void);

#endif
