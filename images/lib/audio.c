/* Sound output and recording over AUO1/AUI1; see include/audio_lib.h. */
#include <stdint.h>

#include "board.h"

#if BOARD_HAS_AUDIO_OUT || BOARD_HAS_AUDIO_IN

#include "audio.h"
#include "audio_lib.h"
#include "cortex_m.h"

static inline uint32_t irq_save(void)
{
    uint32_t m = get_primask();
    cpu_irq_disable();
    return m;
}

static inline void irq_restore(uint32_t m) { set_primask(m); }

/* Distance from `from` forward to `to` in a ring of `size` bytes. */
static inline uint32_t ring_dist(uint32_t from, uint32_t to, uint32_t size)
{
    return to >= from ? to - from : to + size - from;
}

#endif

#if BOARD_HAS_AUDIO_OUT

#define OUT_CH        BOARD_AUDIO_OUT_CHANNELS
#define OUT_PERIOD    (AUDIO_PERIOD_FRAMES * OUT_CH * 2u)        /* bytes */
#define OUT_SIZE      (AUDIO_OUT_PERIODS * OUT_PERIOD)           /* bytes */

static int16_t out_ring[OUT_SIZE / 2] __attribute__((aligned(8)));
static uint32_t out_wr;                  /* our WRITE_PTR, bytes */
static uint32_t out_rate;
static unsigned volume = 256;
static uint16_t period_peak[AUDIO_OUT_PERIODS];
static volatile uint32_t level;
static volatile uint32_t out_irqs;

/* The one voice; changed by the main program with interrupts masked,
 * advanced by the period interrupt. */
static struct {
    const int16_t *pcm;     /* clip, or 0 for a tone */
    uint32_t pos, len;      /* frames */
    uint32_t phase, step;   /* 32-bit phase accumulator: 2^32 = one cycle */
    uint32_t attack, release;
    uint8_t wave;
    uint8_t silent;         /* a rest */
} voice;
static volatile int voice_active;

/* sin(k/64 * 90 degrees) * 32767, k = 0..64: a quarter wave. */
static const int16_t quarter_sine[65] = {
    0, 804, 1608, 2410, 3212, 4011, 4808, 5602, 6393, 7179, 7962, 8739, 9512,
    10278, 11039, 11793, 12539, 13279, 14010, 14732, 15446, 16151, 16846, 17530,
    18204, 18868, 19519, 20159, 20787, 21403, 22005, 22594, 23170, 23731, 24279,
    24811, 25329, 25832, 26319, 26790, 27245, 27683, 28105, 28510, 28898, 29268,
    29621, 29956, 30273, 30571, 30852, 31113, 31356, 31580, 31785, 31971, 32137,
    32285, 32412, 32521, 32609, 32678, 32728, 32757, 32767,
};

static int32_t wave_at(unsigned wave, uint32_t phase)
{
    switch (wave) {
    case AUDIO_SQUARE:
        return phase & 0x80000000u ? -16384 : 16384;
    case AUDIO_TRIANGLE: {
        int32_t p = (int32_t)(phase >> 16);                 /* 0..65535 */
        return p < 32768 ? 2 * p - 32767 : 2 * (65535 - p) - 32767;
    }
    default: {
        uint32_t i = phase >> 24;                            /* 256 steps */
        uint32_t k = i & 63;
        int32_t v = (i & 64) ? quarter_sine[64 - k] : quarter_sine[k];
        return (i & 128) ? -v : v;
    }
    }
}

/* The next mono sample of the voice, or 0 once it is over. */
static int32_t next_sample(void)
{
    if (!voice_active)
        return 0;
    if (voice.pos >= voice.len) {
        voice_active = 0;
        return 0;
    }
    uint32_t pos = voice.pos++;
    if (voice.pcm)
        return voice.pcm[pos] * (int32_t)volume / 256;
    if (voice.silent)
        return 0;

    int32_t w = wave_at(voice.wave, voice.phase);
    voice.phase += voice.step;
    /* Envelope 0..256: linear attack, flat, linear release. */
    uint32_t env = 256, left = voice.len - pos;
    if (pos < voice.attack)
        env = pos * 256 / voice.attack;
    if (left < voice.release && left * 256 / voice.release < env)
        env = left * 256 / voice.release;
    return w * (int32_t)(env * volume / 256) / 256;
}

/* Queue as many whole periods as fit (one slot stays free: READ_PTR ==
 * WRITE_PTR means empty). Runs in the period interrupt, and once before
 * the device is enabled. */
static void out_fill(void)
{
    uint32_t rd = AUDIO_OUT->read_ptr;

    while (OUT_SIZE - 1 - ring_dist(rd, out_wr, OUT_SIZE) >= OUT_PERIOD) {
        uint32_t peak = 0, idx = out_wr / 2;
        for (uint32_t f = 0; f < AUDIO_PERIOD_FRAMES; f++) {
            int32_t s = next_sample();
            uint32_t mag = s < 0 ? (uint32_t)-s : (uint32_t)s;
            if (mag > peak)
                peak = mag;
            for (unsigned c = 0; c < OUT_CH; c++) {
                out_ring[idx] = (int16_t)s;
                if (++idx == OUT_SIZE / 2)
                    idx = 0;
            }
        }
        period_peak[out_wr / OUT_PERIOD % AUDIO_OUT_PERIODS] = (uint16_t)peak;
        out_wr = (out_wr + OUT_PERIOD) % OUT_SIZE;
    }
    AUDIO_OUT->write_ptr = out_wr;
}

int audio_out_init(uint32_t rate_hz)
{
    if (AUDIO_OUT->id != AUDIO_OUT_ID)
        return -1;
    AUDIO_OUT->ctrl = 0;
    nvic_disable(IRQ_AUDIO_OUT);
    AUDIO_OUT->status = AUDIO_STATUS_PERIOD | AUDIO_STATUS_XRUN |
                        AUDIO_STATUS_CONFIG_ERROR | AUDIO_STATUS_BUS_ERROR;
    AUDIO_OUT->rate = rate_hz;
    AUDIO_OUT->channels = OUT_CH;
    AUDIO_OUT->buf_base = (uint32_t)out_ring;
    AUDIO_OUT->buf_size = OUT_SIZE;
    AUDIO_OUT->period = OUT_PERIOD;
    out_rate = AUDIO_OUT->rate;
    voice_active = 0;
    level = 0;
    /* The pointers survive a stop; continue from where the device is. */
    out_wr = AUDIO_OUT->read_ptr % OUT_SIZE;
    out_fill();
    nvic_clear_pending(IRQ_AUDIO_OUT);
    nvic_enable(IRQ_AUDIO_OUT);
    AUDIO_OUT->ctrl = AUDIO_CTRL_ENABLE | AUDIO_CTRL_PERIOD_IE;
    if (AUDIO_OUT->status & AUDIO_STATUS_CONFIG_ERROR) {
        audio_out_stop();
        return -1;
    }
    return 0;
}

void audio_out_stop(void)
{
    AUDIO_OUT->ctrl = 0;
    nvic_disable(IRQ_AUDIO_OUT);
    AUDIO_OUT->status = AUDIO_STATUS_PERIOD | AUDIO_STATUS_XRUN;
    nvic_clear_pending(IRQ_AUDIO_OUT);
    voice_active = 0;
    level = 0;
}

uint32_t audio_out_rate(void) { return out_rate; }

void audio_set_volume(unsigned v) { volume = v > 256 ? 256 : v; }

void audio_tone(uint32_t hz, uint32_t ms, enum audio_wave wave)
{
    uint32_t rate = out_rate ? out_rate : 48000;
    uint32_t len = rate / 1000 * ms + rate % 1000 * ms / 1000;
    uint32_t attack = rate / 200;                       /* 5 ms */
    uint32_t release = rate / 25;                       /* 40 ms */

    if (attack > len / 4)
        attack = len / 4;
    if (release > len / 4)
        release = len / 4;
    /* 64-bit division (libgcc) once per note: step = hz * 2^32 / rate. */
    uint32_t step = (uint32_t)(((uint64_t)hz << 32) / rate);

    uint32_t m = irq_save();
    voice.pcm = 0;
    voice.pos = 0;
    voice.len = len;
    voice.phase = 0;
    voice.step = step;
    voice.attack = attack;
    voice.release = release;
    voice.wave = (uint8_t)wave;
    voice.silent = hz == 0;
    voice_active = len > 0;
    irq_restore(m);
}

void audio_pcm(const int16_t *samples, uint32_t frames)
{
    uint32_t m = irq_save();
    voice.pcm = samples;
    voice.pos = 0;
    voice.len = frames;
    voice_active = frames > 0;
    irq_restore(m);
}

void audio_silence(void) { voice_active = 0; }

int audio_busy(void) { return voice_active; }

uint32_t audio_level(void) { return level; }

uint32_t audio_out_periods(void) { return out_irqs; }

uint32_t audio_out_underruns(void) { return AUDIO_OUT->xruns; }

void audio_out_irq(void)
{
    uint32_t st = AUDIO_OUT->status;

    AUDIO_OUT->status = st & (AUDIO_STATUS_PERIOD | AUDIO_STATUS_XRUN);
    if (st & AUDIO_STATUS_PERIOD) {
        /* The period fetched just now ends at READ_PTR. */
        uint32_t rd = AUDIO_OUT->read_ptr;
        uint32_t last = (rd + OUT_SIZE - OUT_PERIOD) % OUT_SIZE;
        level = period_peak[last / OUT_PERIOD % AUDIO_OUT_PERIODS];
    }
    out_fill();
    out_irqs++;
}

#endif /* BOARD_HAS_AUDIO_OUT */

#if BOARD_HAS_AUDIO_IN

#define IN_CH      BOARD_AUDIO_IN_CHANNELS
#define IN_PERIOD  (AUDIO_PERIOD_FRAMES * IN_CH * 2u)
#define IN_SIZE    (AUDIO_IN_PERIODS * IN_PERIOD)

static int16_t in_ring[IN_SIZE / 2] __attribute__((aligned(8)));
static volatile uint32_t in_irqs, in_overruns;

int audio_in_init(uint32_t rate_hz)
{
    if (AUDIO_IN->id != AUDIO_IN_ID)
        return -1;
    AUDIO_IN->ctrl = 0;
    nvic_disable(IRQ_AUDIO_IN);
    AUDIO_IN->status = AUDIO_STATUS_PERIOD | AUDIO_STATUS_XRUN |
                       AUDIO_STATUS_CONFIG_ERROR | AUDIO_STATUS_BUS_ERROR;
    AUDIO_IN->rate = rate_hz;
    AUDIO_IN->channels = IN_CH;
    AUDIO_IN->buf_base = (uint32_t)in_ring;
    AUDIO_IN->buf_size = IN_SIZE;
    AUDIO_IN->period = IN_PERIOD;
    AUDIO_IN->read_ptr = AUDIO_IN->write_ptr;           /* start empty */
    nvic_clear_pending(IRQ_AUDIO_IN);
    nvic_enable(IRQ_AUDIO_IN);
    AUDIO_IN->ctrl = AUDIO_CTRL_ENABLE | AUDIO_CTRL_PERIOD_IE | AUDIO_CTRL_XRUN_IE;
    if (AUDIO_IN->status & AUDIO_STATUS_CONFIG_ERROR) {
        audio_in_stop();
        return -1;
    }
    return 0;
}

void audio_in_stop(void)
{
    AUDIO_IN->ctrl = 0;
    nvic_disable(IRQ_AUDIO_IN);
    AUDIO_IN->status = AUDIO_STATUS_PERIOD | AUDIO_STATUS_XRUN;
    nvic_clear_pending(IRQ_AUDIO_IN);
}

uint32_t audio_in_read(int16_t *dst, uint32_t max_samples)
{
    uint32_t rd = AUDIO_IN->read_ptr % IN_SIZE;
    uint32_t avail = ring_dist(rd, AUDIO_IN->write_ptr % IN_SIZE, IN_SIZE) / 2;
    uint32_t n = max_samples - max_samples % IN_CH;     /* whole frames */
    uint32_t idx = rd / 2;

    if (n > avail)
        n = avail;
    for (uint32_t i = 0; i < n; i++) {
        dst[i] = in_ring[idx];
        if (++idx == IN_SIZE / 2)
            idx = 0;
    }
    AUDIO_IN->read_ptr = idx * 2;
    return n;
}

uint32_t audio_in_periods(void) { return in_irqs; }
uint32_t audio_in_overruns(void) { return in_overruns; }

void audio_in_irq(void)
{
    uint32_t st = AUDIO_IN->status;

    AUDIO_IN->status = st & (AUDIO_STATUS_PERIOD | AUDIO_STATUS_XRUN);
    if (st & AUDIO_STATUS_XRUN)
        in_overruns++;
    in_irqs++;
}

#endif /* BOARD_HAS_AUDIO_IN */
