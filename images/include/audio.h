/*
 * Ensemble audio output "AUO1" and input "AUI1": PCM through a ring buffer
 * in guest RAM, moved by the device itself (DMA), one period at a time,
 * paced by the machine's virtual time. Ensemble's own design; the model is
 * devices/src/audio.rs.
 *
 * On the MPS2-based boards: output at 0x4010_3000 (IRQ 28), input at
 * 0x4010_4000 (IRQ 29).
 *
 * Samples are signed 16-bit little-endian; with CHANNELS = 2 they are
 * interleaved left, right. A frame is one sample per channel (2 or 4
 * bytes). The ring is BUF_SIZE bytes at BUF_BASE; READ_PTR and WRITE_PTR
 * are byte offsets into it (0 .. BUF_SIZE-1); READ_PTR == WRITE_PTR means
 * empty, so a producer never fills the ring completely. PERIOD is the
 * transfer unit in bytes. PERIOD and BUF_SIZE must be non-zero, BUF_SIZE
 * a multiple of PERIOD and PERIOD a multiple of the frame size, or
 * setting ENABLE is refused (STATUS.CONFIG_ERROR, nothing runs, ENABLE
 * reads 0). Writing BUF_BASE or BUF_SIZE empties the ring (both pointers
 * to 0); a pointer write of BUF_SIZE or more is ignored.
 *
 * Time: frame n of a run started at T0 begins at T0 + n / RATE seconds,
 * rounded down to a tick of the machine's clock and computed from n, so
 * the schedule never drifts.
 *
 * ---- Output (AUO1) --------------------------------------------------------
 * The guest writes samples at WRITE_PTR and advances it. Setting ENABLE
 * starts playback at that moment of virtual time (T0); period k (k = 0, 1,
 * ...) is fetched at T0 + k * (PERIOD / frame size) / RATE seconds: the
 * device copies PERIOD bytes from READ_PTR, advances READ_PTR by PERIOD
 * (wrapping) and sets STATUS.PERIOD. The fetched period then plays until
 * the next fetch. If fewer than PERIOD bytes are in the ring at a fetch,
 * the device takes those there are, plays silence for the rest, sets
 * STATUS.XRUN (underrun) as well as STATUS.PERIOD and counts it in XRUNS;
 * READ_PTR then equals WRITE_PTR. So: fill at least one period before
 * ENABLE, and refill on each PERIOD interrupt. FRAMES counts the frames
 * fetched (a whole period at each fetch, silence included). Clearing
 * ENABLE silences the output at once: the rest of the fetched period is
 * not played (its bytes stay consumed).
 *
 * ---- Input (AUI1) ---------------------------------------------------------
 * The device writes captured samples at WRITE_PTR; the guest consumes from
 * READ_PTR and advances it. Capture starts at ENABLE (T0); at T0 + (k+1) *
 * period time the period just heard is written to the ring and WRITE_PTR
 * advances by PERIOD, setting STATUS.PERIOD. If fewer than PERIOD + 1 bytes
 * are free, the period is dropped instead: STATUS.XRUN (overrun), XRUNS
 * counts it, STATUS.PERIOD is not set. FRAMES counts the frames written
 * to the ring. Clearing ENABLE drops the period being heard. What the
 * microphone hears is set on the command line (a WAV file or a tone); its
 * time starts at 0 at each ENABLE.
 *
 * ---- Both -------------------------------------------------------------------
 * Interrupt line high while (STATUS & (PERIOD|XRUN) & enables in CTRL);
 * CONFIG_ERROR and BUS_ERROR do not interrupt. Clearing ENABLE stops at
 * once; the pointers stay. RATE 8000..48000 Hz and CHANNELS 1..2 are
 * clamped. RATE, CHANNELS, BUF_BASE, BUF_SIZE and PERIOD may only change
 * while disabled: writes while running are ignored. The device checks the
 * whole ring when it starts and at every transfer: a ring that is not
 * wholly in RAM (output may also read ROM) stops the device with
 * STATUS.BUS_ERROR, and ENABLE reads 0.
 * Reset values in brackets; registers are 32-bit, unlisted offsets read 0.
 */
#ifndef ENSEMBLE_AUDIO_H
#define ENSEMBLE_AUDIO_H

#include <stdint.h>

struct audio_regs {
    volatile uint32_t id;         /* 0x00 RO  "AUO1" 0x41554f31 / "AUI1" 0x41554931 */
    volatile uint32_t ctrl;       /* 0x04 RW  AUDIO_CTRL_* [0]                        */
    volatile uint32_t status;     /* 0x08     AUDIO_STATUS_*, W1C except RUNNING [0]   */
    volatile uint32_t buf_base;   /* 0x0C RW  ring address [0]                         */
    volatile uint32_t buf_size;   /* 0x10 RW  ring bytes [0]                           */
    volatile uint32_t period;     /* 0x14 RW  bytes per transfer [0]                   */
    volatile uint32_t read_ptr;   /* 0x18     out: RO (device) / in: RW (guest) [0]    */
    volatile uint32_t write_ptr;  /* 0x1C     out: RW (guest)  / in: RO (device) [0]   */
    volatile uint32_t rate;       /* 0x20 RW  Hz, 8000..48000 [48000]                  */
    volatile uint32_t channels;   /* 0x24 RW  1 or 2 [board: 1 or 2]                   */
    volatile uint32_t frames;     /* 0x28 RO  frames fetched (out) / captured (in)     */
    volatile uint32_t xruns;      /* 0x2C RO  underruns (out) / overruns (in)          */
};

#define AUDIO_OUT_ID            0x41554f31u
#define AUDIO_IN_ID             0x41554931u
#define AUDIO_CTRL_ENABLE       (1u << 0)
#define AUDIO_CTRL_PERIOD_IE    (1u << 1)
#define AUDIO_CTRL_XRUN_IE      (1u << 2)
#define AUDIO_STATUS_PERIOD     (1u << 0)   /* W1C */
#define AUDIO_STATUS_XRUN       (1u << 1)   /* W1C: underrun (out) / overrun (in) */
#define AUDIO_STATUS_RUNNING    (1u << 2)   /* RO */
#define AUDIO_STATUS_CONFIG_ERROR (1u << 3) /* W1C */
#define AUDIO_STATUS_BUS_ERROR  (1u << 4)   /* W1C */

#define AUDIO_OUT ((struct audio_regs *)0x40103000u)
#define AUDIO_IN  ((struct audio_regs *)0x40104000u)
#define IRQ_AUDIO_OUT 28
#define IRQ_AUDIO_IN  29

#endif
