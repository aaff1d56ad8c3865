/* fb-pattern: draws a fixed test picture on the Linux framebuffer
 * (/dev/fb0, the aarch64-virt board's simple-framebuffer) so a screenshot
 * can be compared with a reference picture whatever the kernel version:
 * eight colour bars, a grey ramp, a white frame and a checkerboard square.
 * Static, built by scripts/build-initramfs.sh; run with ensemble.run=fb-pattern.
 * Prints "fb-pattern: drew WxH" and keeps the picture up for 200 ms so a
 * vsync scans it out before init powers the machine off. */
#include <fcntl.h>
#include <linux/fb.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint32_t pixel(const struct fb_var_screeninfo *v, unsigned r, unsigned g, unsigned b)
{
    return (r >> (8 - v->red.length)) << v->red.offset |
           (g >> (8 - v->green.length)) << v->green.offset |
           (b >> (8 - v->blue.length)) << v->blue.offset;
}

int main(void)
{
    int fd = open("/dev/fb0", O_RDWR);
    if (fd < 0) {
        perror("fb-pattern: /dev/fb0");
        return 1;
    }
    struct fb_var_screeninfo v;
    struct fb_fix_screeninfo f;
    if (ioctl(fd, FBIOGET_VSCREENINFO, &v) || ioctl(fd, FBIOGET_FSCREENINFO, &f)) {
        perror("fb-pattern: ioctl");
        return 1;
    }
    if (v.bits_per_pixel != 32) {
        fprintf(stderr, "fb-pattern: %u bits per pixel, want 32\n", v.bits_per_pixel);
        return 1;
    }
    uint8_t *fb = mmap(0, f.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fb == MAP_FAILED) {
        perror("fb-pattern: mmap");
        return 1;
    }
    static const uint8_t bars[8][3] = {
        {255, 255, 255}, {255, 255, 0}, {0, 255, 255}, {0, 255, 0},
        {255, 0, 255},   {255, 0, 0},   {0, 0, 255},   {0, 0, 0},
    };
    unsigned w = v.xres, h = v.yres;
    for (unsigned y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(fb + (size_t)y * f.line_length);
        for (unsigned x = 0; x < w; x++) {
            uint32_t c;
            if (x < 4 || y < 4 || x >= w - 4 || y >= h - 4) {
                c = pixel(&v, 255, 255, 255);
            } else if (y < h / 2) {
                const uint8_t *b = bars[x * 8 / w];
                c = pixel(&v, b[0], b[1], b[2]);
            } else if (y < h * 3 / 4) {
                unsigned g = x * 255 / (w - 1);
                c = pixel(&v, g, g, g);
            } else {
                int in_square = x >= w / 2 - 48 && x < w / 2 + 48;
                int check = ((x / 16) + (y / 16)) & 1;
                c = in_square ? (check ? pixel(&v, 255, 128, 0) : pixel(&v, 0, 64, 128))
                              : pixel(&v, 16, 16, 48);
            }
            row[x] = c;
        }
    }
    printf("fb-pattern: drew %ux%u\n", w, h);
    fflush(stdout);
    struct timespec t = {0, 200 * 1000 * 1000};
    nanosleep(&t, 0);
    return 0;
}
