/*
 * cpu-bound: deterministic integer and memory work with no interrupts, for
 * measuring raw emulation speed. Each round fills a 64 KiB buffer from a
 * linear congruential generator, takes its CRC-32 (table driven, so mostly
 * loads), and heap-sorts 1024 words drawn from the same generator. About
 * 1.5 s on QEMU; the checksums are the same on every board.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"

#define BUF_SIZE   (64u * 1024u)
#define SORT_WORDS 1024u
#define ROUNDS     2048u
#define REPORTS    4u

static uint8_t buf[BUF_SIZE];
static uint32_t words[SORT_WORDS];
static uint32_t crc_table[256];

/* Classic 32-bit LCG (multiplier 1664525, increment 1013904223). */
static uint32_t lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state;
}

static void crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *p, uint32_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void sift_down(uint32_t *a, uint32_t root, uint32_t end)
{
    while (2 * root + 1 < end) {
        uint32_t child = 2 * root + 1;
        if (child + 1 < end && a[child] < a[child + 1])
            child++;
        if (a[root] >= a[child])
            return;
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void heap_sort(uint32_t *a, uint32_t n)
{
    for (uint32_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (uint32_t end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

int main(void)
{
    uint32_t seed = 1;
    uint32_t total = 0;

    con_printf("cpu-bound on " BOARD_NAME ": %u rounds of LCG fill + CRC-32 over %u KiB"
               " + heap sort of %u words\n", ROUNDS, BUF_SIZE / 1024, SORT_WORDS);
    crc32_init();
    for (uint32_t round = 1; round <= ROUNDS; round++) {
        for (uint32_t i = 0; i < BUF_SIZE; i += 4) {
            uint32_t v = lcg(&seed);
            buf[i] = (uint8_t)(v >> 24);
            buf[i + 1] = (uint8_t)(v >> 16);
            buf[i + 2] = (uint8_t)(v >> 8);
            buf[i + 3] = (uint8_t)v;
        }
        uint32_t crc = crc32(buf, BUF_SIZE);

        for (uint32_t i = 0; i < SORT_WORDS; i++)
            words[i] = lcg(&seed);
        heap_sort(words, SORT_WORDS);
        uint32_t sorted = 1;
        for (uint32_t i = 1; i < SORT_WORDS; i++)
            sorted &= words[i - 1] <= words[i];

        /* Position-weighted sum: depends on the sorted order, not just
         * on the set of values. */
        uint32_t sum = 0;
        for (uint32_t i = 0; i < SORT_WORDS; i++)
            sum += words[i] * (i + 1);

        total = (total ^ crc) * 31u + sum;
        if (round % (ROUNDS / REPORTS) == 0)
            con_printf("cpu-bound: round %u crc32=0x%08x sort %s, running checksum 0x%08x\n",
                       (unsigned)round, (unsigned)crc, sorted ? "ok" : "BAD", (unsigned)total);
    }
    con_printf("cpu-bound: checksum 0x%08x\n", (unsigned)total);
    con_puts("cpu-bound: done\n");
    return 0;
}
