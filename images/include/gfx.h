/*
 * Framebuffer graphics on the DSP1 display (include/display.h), for boards
 * with BOARD_HAS_DISPLAY: one RGB565 framebuffer of the board's panel size
 * in RAM, drawn by the CPU and shown with gfx_present().
 *
 * Coordinates are in pixels from the top-left corner of the (possibly
 * rotated) screen; everything is clipped to the screen, so shapes may lie
 * partly or wholly outside it. Integer arithmetic only.
 *
 * The framebuffer is a static array with __attribute__((noinit)) (section
 * .noinit, after .bss in RAM, not zeroed at reset; see ld/sections.ld):
 * 240x240 (watch) is 112.5 KiB, 480x800 (phone) 750 KiB, both well inside
 * the 4 MiB SSRAM2/3 that ld/mps2.ld gives RAM.
 *
 * Interrupts: gfx_present() sleeps until the display's vsync interrupt
 * (IRQ_DISPLAY, 25), which gfx_init() enables in the NVIC. The library does
 * not own the vector table, so an image that uses it must route it:
 *
 *     void IRQ25_Handler(void) { gfx_vsync_irq(); }
 *
 * Text uses the library's own 5x7 font (lib/font5x7.c) in a 6x8 cell,
 * ASCII 32..126 (anything else draws as '?'), scaled by an integer factor.
 * Numbers: format them with include/format.h, then draw the string.
 */
#ifndef ENSEMBLE_GFX_H
#define ENSEMBLE_GFX_H

#include <stdint.h>

#include "format.h"

/* RGB565 from 8-bit components. */
#define GFX_RGB(r, g, b) \
    ((uint16_t)((((r) & 0xF8u) << 8) | (((g) & 0xFCu) << 3) | (((b) & 0xFFu) >> 3)))

#define GFX_BLACK     GFX_RGB(0, 0, 0)
#define GFX_WHITE     GFX_RGB(255, 255, 255)
#define GFX_GRAY      GFX_RGB(128, 128, 128)
#define GFX_DARKGRAY  GFX_RGB(48, 48, 48)
#define GFX_RED       GFX_RGB(255, 0, 0)
#define GFX_GREEN     GFX_RGB(0, 255, 0)
#define GFX_BLUE      GFX_RGB(0, 0, 255)
#define GFX_YELLOW    GFX_RGB(255, 255, 0)
#define GFX_CYAN      GFX_RGB(0, 255, 255)
#define GFX_MAGENTA   GFX_RGB(255, 0, 255)
#define GFX_ORANGE    GFX_RGB(255, 160, 0)

/* Font cell: 5x7 glyph plus one column and one row of spacing. */
#define GFX_FONT_W 6
#define GFX_FONT_H 8

/*
 * Set up the display: framebuffer, RGB565, MANUAL mode (a frame is shown
 * only after gfx_present()), 60 Hz, backlight full, and a black screen
 * drawn. Returns 0, or -1 if there is no DSP1 (then every other call does
 * nothing).
 */
int gfx_init(void);

/* Screen size in pixels as drawn, i.e. after the rotation. */
int gfx_width(void);
int gfx_height(void);

/*
 * Rotate what is drawn from now on by quarter_turns * 90 degrees clockwise
 * (0..3, taken modulo 4): with 1, the top of the drawing is at the
 * panel's right edge. The framebuffer is not touched: redraw after.
 */
void gfx_set_rotation(unsigned quarter_turns);
unsigned gfx_rotation(void);

void gfx_set_backlight(unsigned level);     /* 0 (dark) .. 255 */

void gfx_clear(uint16_t color);
void gfx_pixel(int x, int y, uint16_t color);
void gfx_fill_rect(int x, int y, int w, int h, uint16_t color);
void gfx_rect(int x, int y, int w, int h, uint16_t color);       /* 1-pixel outline */
/* Corner radius r is clamped to half the shorter side. */
void gfx_fill_round_rect(int x, int y, int w, int h, int r, uint16_t color);
void gfx_round_rect(int x, int y, int w, int h, int r, uint16_t color);
void gfx_line(int x0, int y0, int x1, int y1, uint16_t color);
/* A line drawn with a width x width square pen. */
void gfx_thick_line(int x0, int y0, int x1, int y1, int width, uint16_t color);
void gfx_circle(int cx, int cy, int r, uint16_t color);
void gfx_fill_circle(int cx, int cy, int r, uint16_t color);

/*
 * Text with its top-left corner at (x, y), each font pixel drawn as a
 * scale x scale square, transparent background; '\n' starts a new line
 * at x. Returns the x just after the last character drawn.
 */
int gfx_text(int x, int y, const char *s, int scale, uint16_t color);
/* Width in pixels of the longest line of s (without the trailing gap). */
int gfx_text_width(const char *s, int scale);
/* Text centred horizontally on cx. */
void gfx_text_centered(int cx, int y, const char *s, int scale, uint16_t color);

/*
 * Show the framebuffer: FRAME_READY, then sleep (WFI) until the vsync that
 * takes it, so that drawing may continue into the same buffer as soon as
 * this returns without tearing. At most one frame period (1/60 s).
 */
void gfx_present(void);

/* The vsync interrupt handler's body (see above). */
void gfx_vsync_irq(void);

/* Vsync interrupts handled so far (they are enabled only in gfx_present). */
uint32_t gfx_vsync_count(void);

/* The framebuffer itself, panel-sized, row-major, unrotated. */
uint16_t *gfx_framebuffer(void);

/* Font data (lib/font5x7.c): 7 rows per glyph, bit 4 = leftmost column. */
extern const uint8_t gfx_font5x7[95][7];

#endif
