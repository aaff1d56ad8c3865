/*
 * Ensemble display controller "DSP1": a panel that scans out a framebuffer
 * held in guest RAM. Ensemble's own design (no real chip); this header is
 * its documentation, the model is devices/src/display.rs.
 *
 * On the MPS2-based boards (mps2-an385/an386, watch, speaker, phone):
 * registers at 0x4010_0000 (4 KiB window), vsync interrupt IRQ 25.
 *
 * ---- Scan-out -------------------------------------------------------------
 *
 * While CTRL.ENABLE is set the panel has a vsync every 1/VSYNC_HZ seconds
 * of the machine's virtual time, the first one 1/VSYNC_HZ after ENABLE
 * was set: vsync n falls at tick T + n * CLOCK_HZ / VSYNC_HZ (rounded down)
 * of the machine clock (CLOCK_HZ, 25 MHz on MPS2),
 * T being the tick ENABLE was set, so the rate never drifts. Writing a
 * different VSYNC_HZ while enabled restarts this count from the write.
 * At a vsync the controller reads WIDTH x HEIGHT pixels from
 * FB_BASE (line n at FB_BASE + n * STRIDE) in FORMAT and shows them:
 *  - CTRL.MANUAL = 0: every vsync shows the framebuffer as it is then;
 *  - CTRL.MANUAL = 1: only a vsync after the driver wrote 1 to
 *    FRAME_READY shows a new frame (STATUS.PENDING meanwhile); the
 *    others repeat the last one (black if none was shown since ENABLE
 *    was set). Write FB_BASE, then FRAME_READY, and wait for the vsync
 *    (PENDING clear) before drawing into the old buffer: no tearing.
 * In either mode PENDING is set by writing 1 to FRAME_READY and cleared
 * by the next vsync that shows a new frame.
 * Each vsync sets STATUS.VSYNC (interrupt while CTRL.VSYNC_IE is set);
 * FRAME_COUNT counts the frames shown (new or repeated), VSYNC_COUNT every
 * vsync since reset. A framebuffer that is not wholly in memory (RAM or
 * ROM) shows black and sets STATUS.BUS_ERROR.
 *
 * Formats: 0 = RGB565 (16-bit little-endian, R in bits 15:11), 1 =
 * XRGB8888 (32-bit little-endian, B in bits 7:0, bits 31:24 ignored);
 * FORMAT keeps bit 0 only. RGB565 channels widen by bit replication
 * (0x1F -> 0xFF). BACKLIGHT scales what the viewer sees: each channel
 * times BACKLIGHT / 255, rounded; 255 full, 0 dark.
 * A disabled panel shows black (no vsyncs, FRAME_COUNT holds).
 *
 * Reset values in brackets; registers are 32-bit, unlisted offsets read 0.
 */
#ifndef ENSEMBLE_DISPLAY_H
#define ENSEMBLE_DISPLAY_H

#include <stdint.h>

struct display_regs {
    volatile uint32_t id;           /* 0x00 RO  0x44535031 "DSP1"                         */
    volatile uint32_t ctrl;         /* 0x04 RW  DISPLAY_CTRL_* [0]                          */
    volatile uint32_t status;       /* 0x08     DISPLAY_STATUS_*: VSYNC, BUS_ERROR W1C [0]  */
    volatile uint32_t fb_base;      /* 0x0C RW  framebuffer address [0]                     */
    volatile uint32_t width;        /* 0x10 RW  1..PANEL_WIDTH, clamped [PANEL_WIDTH]        */
    volatile uint32_t height;       /* 0x14 RW  1..PANEL_HEIGHT, clamped [PANEL_HEIGHT]      */
    volatile uint32_t stride;       /* 0x18 RW  bytes per line [PANEL_WIDTH * 2]             */
    volatile uint32_t format;       /* 0x1C RW  DISPLAY_FMT_* (bit 0) [RGB565]               */
    volatile uint32_t vsync_hz;     /* 0x20 RW  1..240, clamped [60]                         */
    volatile uint32_t backlight;    /* 0x24 RW  0..255, clamped [255]                        */
    volatile uint32_t frame_ready;  /* 0x28 WO  write 1: show FB at the next vsync (MANUAL)  */
    volatile uint32_t frame_count;  /* 0x2C RO  frames shown since ENABLE was set            */
    volatile uint32_t panel_width;  /* 0x30 RO  pixels, fixed by the board                   */
    volatile uint32_t panel_height; /* 0x34 RO                                               */
    volatile uint32_t vsync_count;  /* 0x38 RO  vsyncs since reset                           */
};

#define DISPLAY_ID              0x44535031u
#define DISPLAY_CTRL_ENABLE     (1u << 0)
#define DISPLAY_CTRL_VSYNC_IE   (1u << 1)
#define DISPLAY_CTRL_MANUAL     (1u << 2)
#define DISPLAY_STATUS_VSYNC    (1u << 0)   /* W1C */
#define DISPLAY_STATUS_PENDING  (1u << 1)   /* RO: FRAME_READY written, not yet shown */
#define DISPLAY_STATUS_BUS_ERROR (1u << 2)  /* W1C */
#define DISPLAY_FMT_RGB565      0u
#define DISPLAY_FMT_XRGB8888    1u

#define DISPLAY   ((struct display_regs *)0x40100000u)
#define IRQ_DISPLAY 25

#endif
