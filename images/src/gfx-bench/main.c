/*
 * gfx-bench: the screen benchmark. Draws full frames as fast as the CPU
 * allows (a gradient of rectangles, moving circles and text) and presents
 * each at the next vsync, for 10 s of virtual time (counted in vsyncs of
 * the 60 Hz panel), then prints how many frames it drew and halts.
 * scripts/bench.sh runs it headless and in a window to measure what
 * presenting frames costs the emulation.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "format.h"
#include "display.h"
#include "gfx.h"
#include "runtime.h"

void IRQ25_Handler(void) { gfx_vsync_irq(); }

#define SECONDS 10u

int main(void)
{
    if (gfx_init() < 0) {
        con_puts("gfx-bench: no display\n");
        return 0;
    }
    int w = gfx_width(), h = gfx_height();
    uint32_t frames = 0;
    uint32_t start = DISPLAY->vsync_count;
    char num[FMT_BUF_SIZE];
    while (DISPLAY->vsync_count - start < SECONDS * 60u) {
        /* Three passes: enough drawing to keep the CPU busy all frame. */
        for (int pass = 0; pass < 3; pass++)
            for (int y = 0; y < h; y += 16)
                gfx_fill_rect(0, y, w, 16,
                              GFX_RGB((y * 2 + frames + pass) & 0xff, 40, 255 - (y & 0xff)));
        for (int i = 0; i < 6; i++) {
            int cx = (int)((frames * (3u + i) + 40u * i) % (uint32_t)w);
            gfx_fill_circle(cx, h / 2 + (i - 3) * 20, 14, GFX_RGB(255, 200 - i * 30, i * 40));
        }
        fmt_uint(num, frames, 1);
        gfx_text(8, 8, "frame", 2, GFX_RGB(255, 255, 255));
        gfx_text(80, 8, num, 2, GFX_RGB(255, 255, 0));
        gfx_present();
        frames++;
    }
    con_printf("gfx-bench: %u frames in %u s\n", (unsigned)frames, SECONDS);
    return 0;
}
