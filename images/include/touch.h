/*
 * Ensemble touch panel "TCH1": a single-touch resistive-style panel over
 * the display, in display pixels. Ensemble's own design; the model is
 * devices/src/touch.rs. In the window the mouse drives it; headless, a
 * scenario step or test does.
 *
 * On the MPS2-based boards: registers at 0x4010_1000, IRQ 26.
 *
 * Every change (press, move to a new position while pressed, release)
 * appends an event to a 16-entry FIFO; reading EVENT (any access size)
 * pops the oldest (0 when empty). A full FIFO drops the new event and
 * sets STATUS.OVERFLOW. The interrupt line is high while CTRL.IE is set
 * and the FIFO is not empty. X, Y and STATUS.PRESSED always show the
 * latest state, FIFO or not. Touches beyond the panel are clamped to its
 * edge; a release reports, and X and Y keep, the last pressed position.
 *
 * Reset values in brackets; registers are 32-bit, unlisted offsets read 0.
 */
#ifndef ENSEMBLE_TOUCH_H
#define ENSEMBLE_TOUCH_H

#include <stdint.h>

struct touch_regs {
    volatile uint32_t id;       /* 0x00 RO  0x54434831 "TCH1"                     */
    volatile uint32_t ctrl;     /* 0x04 RW  TOUCH_CTRL_IE [0]                      */
    volatile uint32_t status;   /* 0x08     TOUCH_STATUS_*: OVERFLOW W1C [0]       */
    volatile uint32_t x;        /* 0x0C RO  last x, 0..WIDTH-1 [0]                  */
    volatile uint32_t y;        /* 0x10 RO  last y [0]                              */
    volatile uint32_t event;    /* 0x14 RO  pops one TOUCH_EVENT_* word, 0 if none */
    volatile uint32_t count;    /* 0x18 RO  events in the FIFO                      */
    volatile uint32_t width;    /* 0x1C RO  panel size in pixels (board)            */
    volatile uint32_t height;   /* 0x20 RO                                          */
};

#define TOUCH_ID                0x54434831u
#define TOUCH_CTRL_IE           (1u << 0)
#define TOUCH_STATUS_PRESSED    (1u << 0)
#define TOUCH_STATUS_NOT_EMPTY  (1u << 1)
#define TOUCH_STATUS_OVERFLOW   (1u << 2)   /* W1C */
#define TOUCH_FIFO_DEPTH        16

/* EVENT word: valid, pressed, y, x. */
#define TOUCH_EVENT_VALID       (1u << 31)
#define TOUCH_EVENT_PRESSED     (1u << 30)
#define TOUCH_EVENT_Y(e)        (((e) >> 16) & 0xfffu)
#define TOUCH_EVENT_X(e)        ((e) & 0xfffu)

#define TOUCH     ((struct touch_regs *)0x40101000u)
#define IRQ_TOUCH 26

#endif
