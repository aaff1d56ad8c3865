/* Framebuffer graphics on the DSP1 display; see include/gfx.h. */
#include <stdint.h>

#include "board.h"

#if BOARD_HAS_DISPLAY

#include "cortex_m.h"
#include "display.h"
#include "gfx.h"

#define FB_W BOARD_DISPLAY_WIDTH
#define FB_H BOARD_DISPLAY_HEIGHT

/* Not zeroed at reset (see ld/sections.ld): gfx_init() clears it. 32-byte
 * aligned: a cache line on the Cortex-M7. */
static uint16_t framebuffer[FB_W * FB_H] __attribute__((noinit, aligned(32)));

static int ready;
static unsigned rotation;
static volatile uint32_t vsyncs;

int gfx_init(void)
{
    if (DISPLAY->id != DISPLAY_ID)
        return -1;
    DISPLAY->ctrl = 0;
    DISPLAY->fb_base = (uint32_t)framebuffer;
    DISPLAY->width = FB_W;
    DISPLAY->height = FB_H;
    DISPLAY->stride = FB_W * 2;
    DISPLAY->format = DISPLAY_FMT_RGB565;
    DISPLAY->vsync_hz = 60;
    DISPLAY->backlight = 255;
    DISPLAY->status = DISPLAY_STATUS_VSYNC | DISPLAY_STATUS_BUS_ERROR;
    nvic_clear_pending(IRQ_DISPLAY);
    nvic_enable(IRQ_DISPLAY);
    ready = 1;
    rotation = 0;
    gfx_clear(GFX_BLACK);
    /* VSYNC_IE stays off until gfx_present() needs a wake-up: an idle
     * screen then costs no interrupts. */
    DISPLAY->ctrl = DISPLAY_CTRL_ENABLE | DISPLAY_CTRL_MANUAL;
    gfx_present();
    return 0;
}

int gfx_width(void)  { return (rotation & 1) ? FB_H : FB_W; }
int gfx_height(void) { return (rotation & 1) ? FB_W : FB_H; }

void gfx_set_rotation(unsigned quarter_turns) { rotation = quarter_turns & 3; }
unsigned gfx_rotation(void) { return rotation; }

void gfx_set_backlight(unsigned level)
{
    if (ready)
        DISPLAY->backlight = level > 255 ? 255 : level;
}

uint16_t *gfx_framebuffer(void) { return framebuffer; }

/*
 * The one primitive that writes the framebuffer. The rectangle is clipped
 * to the screen as drawn, then mapped to the panel: rotation r turns the
 * drawing r quarter turns clockwise, so drawn (x, y) lands on the panel at
 *   r=1: (FB_W-1-y, x)   r=2: (FB_W-1-x, FB_H-1-y)   r=3: (y, FB_H-1-x)
 * and a rectangle stays a rectangle.
 */
void gfx_fill_rect(int x, int y, int w, int h, uint16_t color)
{
    int sw = gfx_width(), sh = gfx_height();

    if (!ready)
        return;
    if (x < 0) { w += x; x = 0; }
    if (y < 0) { h += y; y = 0; }
    if (w > sw - x) w = sw - x;
    if (h > sh - y) h = sh - y;
    if (w <= 0 || h <= 0)
        return;

    int px, py, pw, ph;
    switch (rotation) {
    case 0:  px = x;            py = y;            pw = w; ph = h; break;
    case 1:  px = FB_W - y - h; py = x;            pw = h; ph = w; break;
    case 2:  px = FB_W - x - w; py = FB_H - y - h; pw = w; ph = h; break;
    default: px = y;            py = FB_H - x - w; pw = h; ph = w; break;
    }

    uint16_t *row = framebuffer + py * FB_W + px;
    for (int j = 0; j < ph; j++, row += FB_W)
        for (int i = 0; i < pw; i++)
            row[i] = color;
}

void gfx_clear(uint16_t color)
{
    unsigned r = rotation;

    rotation = 0;
    gfx_fill_rect(0, 0, FB_W, FB_H, color);
    rotation = r;
}

void gfx_pixel(int x, int y, uint16_t color)
{
    gfx_fill_rect(x, y, 1, 1, color);
}

void gfx_rect(int x, int y, int w, int h, uint16_t color)
{
    gfx_round_rect(x, y, w, h, 0, color);
}

/* ---- lines ------------------------------------------------------------ */

/* Bresenham, with a pen of width x width pixels centred on the line. */
void gfx_thick_line(int x0, int y0, int x1, int y1, int width, uint16_t color)
{
    int dx = x1 > x0 ? x1 - x0 : x0 - x1;
    int dy = y1 > y0 ? y0 - y1 : y1 - y0;      /* -|dy| */
    int sx = x0 < x1 ? 1 : -1;
    int sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    int off = (width - 1) / 2;

    if (width < 1)
        return;
    for (;;) {
        gfx_fill_rect(x0 - off, y0 - off, width, width, color);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

void gfx_line(int x0, int y0, int x1, int y1, uint16_t color)
{
    /* Straight lines in one rectangle, the rest pixel by pixel. */
    if (y0 == y1)
        gfx_fill_rect(x0 < x1 ? x0 : x1, y0, (x0 < x1 ? x1 - x0 : x0 - x1) + 1, 1, color);
    else if (x0 == x1)
        gfx_fill_rect(x0, y0 < y1 ? y0 : y1, 1, (y0 < y1 ? y1 - y0 : y0 - y1) + 1, color);
    else
        gfx_thick_line(x0, y0, x1, y1, 1, color);
}

/* ---- circles and rounded rectangles ----------------------------------- */

/*
 * Midpoint circle of radius r around four centres: (l, t) for the
 * top-left quarter, (rt, t) top-right, (l, b) bottom-left and (rt, b)
 * bottom-right. One centre for all four is a circle; the corners of a
 * rectangle make a rounded rectangle. `fill` joins left and right halves
 * with horizontal spans instead of plotting the outline.
 */
static void quarters(int l, int t, int rt, int b, int r, int fill, uint16_t color)
{
    int x = r, y = 0, err = 1 - r;

    while (x >= y) {
        if (fill) {
            gfx_fill_rect(l - x, t - y, rt - l + 2 * x + 1, 1, color);
            gfx_fill_rect(l - y, t - x, rt - l + 2 * y + 1, 1, color);
            gfx_fill_rect(l - x, b + y, rt - l + 2 * x + 1, 1, color);
            gfx_fill_rect(l - y, b + x, rt - l + 2 * y + 1, 1, color);
        } else {
            gfx_pixel(rt + x, b + y, color);  gfx_pixel(rt + y, b + x, color);
            gfx_pixel(l - x, b + y, color);   gfx_pixel(l - y, b + x, color);
            gfx_pixel(rt + x, t - y, color);  gfx_pixel(rt + y, t - x, color);
            gfx_pixel(l - x, t - y, color);   gfx_pixel(l - y, t - x, color);
        }
        y++;
        if (err < 0) {
            err += 2 * y + 1;
        } else {
            x--;
            err += 2 * (y - x) + 1;
        }
    }
}

void gfx_circle(int cx, int cy, int r, uint16_t color)
{
    if (r >= 0)
        quarters(cx, cy, cx, cy, r, 0, color);
}

void gfx_fill_circle(int cx, int cy, int r, uint16_t color)
{
    if (r >= 0)
        quarters(cx, cy, cx, cy, r, 1, color);
}

static int clamp_radius(int w, int h, int r)
{
    int m = (w < h ? w : h) / 2;
    if (r > m)
        r = m;
    return r < 0 ? 0 : r;
}

void gfx_fill_round_rect(int x, int y, int w, int h, int r, uint16_t color)
{
    if (w <= 0 || h <= 0)
        return;
    r = clamp_radius(w, h, r);
    /* The straight middle band, then the rounded top and bottom bands. */
    gfx_fill_rect(x, y + r, w, h - 2 * r, color);
    if (r > 0)
        quarters(x + r, y + r, x + w - 1 - r, y + h - 1 - r, r, 1, color);
}

void gfx_round_rect(int x, int y, int w, int h, int r, uint16_t color)
{
    if (w <= 0 || h <= 0)
        return;
    r = clamp_radius(w, h, r);
    gfx_fill_rect(x + r, y, w - 2 * r, 1, color);               /* top    */
    gfx_fill_rect(x + r, y + h - 1, w - 2 * r, 1, color);       /* bottom */
    gfx_fill_rect(x, y + r, 1, h - 2 * r, color);               /* left   */
    gfx_fill_rect(x + w - 1, y + r, 1, h - 2 * r, color);       /* right  */
    if (r > 0)
        quarters(x + r, y + r, x + w - 1 - r, y + h - 1 - r, r, 0, color);
}

/* ---- text -------------------------------------------------------------- */

static void draw_char(int x, int y, char c, int scale, uint16_t color)
{
    if (c < ' ' || c > '~')
        c = '?';
    const uint8_t *glyph = gfx_font5x7[c - ' '];
    for (int row = 0; row < 7; row++) {
        uint8_t bits = glyph[row];
        for (int col = 0; col < 5; col++)
            if (bits & (0x10u >> col))
                gfx_fill_rect(x + col * scale, y + row * scale, scale, scale, color);
    }
}

int gfx_text(int x, int y, const char *s, int scale, uint16_t color)
{
    int x0 = x;

    if (scale < 1)
        scale = 1;
    for (; *s; s++) {
        if (*s == '\n') {
            x = x0;
            y += GFX_FONT_H * scale;
            continue;
        }
        draw_char(x, y, *s, scale, color);
        x += GFX_FONT_W * scale;
    }
    return x;
}

int gfx_text_width(const char *s, int scale)
{
    int n = 0, longest = 0;

    if (scale < 1)
        scale = 1;
    for (;; s++) {
        if (*s == '\n' || *s == '\0') {
            if (n > longest)
                longest = n;
            n = 0;
            if (*s == '\0')
                break;
        } else {
            n++;
        }
    }
    /* The last character's spacing column is not part of the text. */
    return longest ? (longest * GFX_FONT_W - 1) * scale : 0;
}

void gfx_text_centered(int cx, int y, const char *s, int scale, uint16_t color)
{
    gfx_text(cx - gfx_text_width(s, scale) / 2, y, s, scale, color);
}

/* ---- scan-out ------------------------------------------------------------ */

void gfx_vsync_irq(void)
{
    DISPLAY->status = DISPLAY_STATUS_VSYNC;    /* W1C: drops the line */
    vsyncs++;
}

uint32_t gfx_vsync_count(void) { return vsyncs; }

void gfx_present(void)
{
    if (!ready)
        return;
    /* Forget vsyncs that happened while nobody waited, so the interrupt
     * does not fire at once, then hand the frame over. The writes to the
     * framebuffer are ordinary stores that precede these device writes on
     * a Cortex-M (no data cache is enabled). */
    cpu_dsb();
    DISPLAY->status = DISPLAY_STATUS_VSYNC;
    DISPLAY->ctrl |= DISPLAY_CTRL_VSYNC_IE;
    DISPLAY->frame_ready = 1;

    /*
     * Sleep until the vsync that shows the frame clears PENDING. PRIMASK
     * is set around the test and the WFI, so a vsync between the two
     * still wakes the core (WFI wakes on a pending interrupt even when
     * PRIMASK masks it); the handler then runs when PRIMASK is cleared.
     * Called with interrupts already masked, it waits without letting the
     * handler run (the vsync stays pending until the caller unmasks).
     */
    uint32_t was_masked = get_primask() & 1;
    cpu_irq_disable();
    while (DISPLAY->status & DISPLAY_STATUS_PENDING) {
        cpu_wfi();
        if (!was_masked) {
            cpu_irq_enable();
            cpu_isb();
            cpu_irq_disable();
        }
    }
    DISPLAY->ctrl &= ~DISPLAY_CTRL_VSYNC_IE;
    if (!was_masked)
        cpu_irq_enable();
}

#endif /* BOARD_HAS_DISPLAY */
