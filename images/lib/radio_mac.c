/* 802.15.4 data frames with CSMA-CA over the RAD1 radio; see include/radio_mac.h. */
#include <stdint.h>

#include "board.h"

#if BOARD_HAS_RADIO

#include "cortex_m.h"
#include "radio.h"
#include "radio_mac.h"

#ifndef RADIO_BASE
#error "board.h says the board has a radio, radio.h does not say where"
#endif

/* A raw frame as the radio holds it, word-aligned for word copies. */
struct raw_frame {
    union {
        uint8_t data[128];
        uint32_t data32[32];
    };
    uint8_t len;
    int8_t rssi;
    uint8_t lqi;
};

static struct raw_frame rxq[RMAC_RXQ_LEN];
/* head is advanced by the handler, tail by rmac_recv(); they only grow. */
static volatile unsigned rxq_head, rxq_tail;
/* Completion events (RADIO_INT_TX_DONE, RADIO_INT_CCA_DONE) not yet waited for. */
static volatile uint32_t events;

static int present;
static uint16_t my_addr, my_pan;
static uint8_t seq;
static uint32_t rng;
static struct rmac_stats stats;
static struct raw_frame tx;

static int have_radio(void)
{
    return RADIO->id == RADIO_ID_VALUE;
}

uint32_t rmac_eui(void)
{
    return have_radio() ? RADIO->eui : 0;
}

uint16_t rmac_addr_from_eui(uint32_t eui)
{
    uint16_t a = (uint16_t)eui;
    return a >= 0xFFFEu ? (uint16_t)(a & 0x7FFFu) : a;
}

uint16_t rmac_addr(void) { return my_addr; }
uint16_t rmac_pan(void) { return my_pan; }

const struct rmac_stats *rmac_stats(void) { return &stats; }

/* xorshift32: deterministic, seeded per device. */
static uint32_t random32(void)
{
    uint32_t x = rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng = x;
    return x;
}

int rmac_init(unsigned channel, uint16_t pan, uint16_t addr)
{
    present = 0;
    if (!have_radio())
        return -1;
    nvic_disable(IRQ_RADIO);
    RADIO->ctrl = 0;
    RADIO->channel = channel;
    RADIO->pan_id = pan;
    RADIO->short_addr = addr;
    RADIO->int_sts = RADIO_INT_ALL;
    RADIO->int_en = RADIO_INT_TX_DONE | RADIO_INT_RX_DONE | RADIO_INT_CCA_DONE;
    my_addr = addr;
    my_pan = pan;
    rxq_head = rxq_tail = 0;
    events = 0;
    /* Never 0 (xorshift would stay there); different per device. */
    rng = (RADIO->eui * 2654435761u) ^ ((uint32_t)addr << 16) ^ 0x5EEDu;
    if (!rng)
        rng = 1;
    seq = (uint8_t)random32();
    nvic_clear_pending(IRQ_RADIO);
    nvic_set_priority(IRQ_RADIO, PRIO(2));
    nvic_enable(IRQ_RADIO);
    RADIO->ctrl = RADIO_CTRL_RX_ON | RADIO_CTRL_ADDR_FILTER;
    present = 1;
    return 0;
}

void rmac_irq(void)
{
    uint32_t sts = RADIO->int_sts;

    if (sts & RADIO_INT_RX_DONE) {
        unsigned head = rxq_head;
        if (head - rxq_tail < RMAC_RXQ_LEN) {
            struct raw_frame *f = &rxq[head % RMAC_RXQ_LEN];
            unsigned len = RADIO->rx_len;
            if (len > RADIO_MAX_FRAME)
                len = RADIO_MAX_FRAME;
            f->len = (uint8_t)len;
            f->rssi = (int8_t)RADIO->rx_rssi;
            f->lqi = (uint8_t)RADIO->rx_lqi;
            for (unsigned i = 0; i < (len + 3u) / 4u; i++)
                f->data32[i] = RADIO->rx_buf32[i];
            rxq_head = head + 1;
        } else {
            stats.queue_lost++;
        }
    }
    events |= sts & (RADIO_INT_TX_DONE | RADIO_INT_CCA_DONE);
    /* Only after the copy: clearing RX_DONE hands the buffer back. */
    RADIO->int_sts = sts;
}

/* Sleep until the handler has seen `event`, and consume it. PRIMASK is set
 * around the test so that the event cannot slip in between the test and
 * the WFI; WFI still wakes for the masked interrupt, which is taken as
 * soon as interrupts are unmasked again. */
static void wait_event(uint32_t event)
{
    uint32_t was_masked = get_primask() & 1;

    cpu_irq_disable();
    while (!(events & event)) {
        cpu_wfi();
        if (!was_masked) {
            cpu_irq_enable();
            cpu_isb();
            cpu_irq_disable();
        } else if (RADIO->int_sts & RADIO->int_en) {
            rmac_irq();   /* masked by the caller: poll the device instead */
        }
    }
    events &= ~event;
    if (!was_masked)
        cpu_irq_enable();
}

/* One clear channel assessment: 1 if the channel is clear. */
static int cca(void)
{
    RADIO->ctrl |= RADIO_CTRL_CCA_START;
    wait_event(RADIO_INT_CCA_DONE);
    return !(RADIO->status & RADIO_STATUS_CCA_BUSY);
}

/* Wait `units` unit back-off periods (320 us), as CCAs of 128 us each. */
static void backoff(unsigned units)
{
    unsigned n = (units * RMAC_UNIT_BACKOFF_US + 127u) / 128u;
    while (n--)
        (void)cca();
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int rmac_send(uint16_t dst, const void *payload, unsigned len)
{
    if (!present || len > RMAC_MAX_PAYLOAD)
        return -1;

    put16(&tx.data[0], RMAC_FRAME_CONTROL);
    tx.data[2] = seq++;
    put16(&tx.data[3], my_pan);
    put16(&tx.data[5], dst);
    put16(&tx.data[7], my_addr);
    const uint8_t *src = payload;
    for (unsigned i = 0; i < len; i++)
        tx.data[RMAC_HDR_LEN + i] = src[i];
    tx.len = (uint8_t)(RMAC_HDR_LEN + len);

    /* Unslotted CSMA-CA. */
    unsigned be = RMAC_MIN_BE;
    for (unsigned nb = 0; nb <= RMAC_CSMA_BACKOFFS; nb++) {
        backoff(random32() & ((1u << be) - 1u));
        if (cca()) {
            for (unsigned i = 0; i < (tx.len + 3u) / 4u; i++)
                RADIO->tx_buf32[i] = tx.data32[i];
            RADIO->tx_len = tx.len;
            RADIO->ctrl |= RADIO_CTRL_TX_START;
            wait_event(RADIO_INT_TX_DONE);
            stats.sent++;
            return 0;
        }
        stats.cca_busy++;
        if (be < RMAC_MAX_BE)
            be++;
    }
    stats.send_failed++;
    return -1;
}

int rmac_recv(struct rmac_packet *p)
{
    for (;;) {
        unsigned tail = rxq_tail;
        if (tail == rxq_head)
            return 0;
        const struct raw_frame *f = &rxq[tail % RMAC_RXQ_LEN];
        uint16_t fc = f->len >= RMAC_HDR_LEN ? get16(f->data) : 0;
        int ok = (fc & 7u) == RADIO_FC_TYPE_DATA && (fc & 0x0C00u) == RADIO_FC_DEST_SHORT &&
                 (fc & 0xC000u) == RADIO_FC_SRC_SHORT && (fc & RADIO_FC_PAN_ID_COMPRESSION);
        if (ok) {
            p->seq = f->data[2];
            p->pan = get16(&f->data[3]);
            p->dst = get16(&f->data[5]);
            p->src = get16(&f->data[7]);
            p->rssi = f->rssi;
            p->lqi = f->lqi;
            p->len = (uint8_t)(f->len - RMAC_HDR_LEN);
            for (unsigned i = 0; i < p->len; i++)
                p->payload[i] = f->data[RMAC_HDR_LEN + i];
        }
        rxq_tail = tail + 1;
        if (ok) {
            stats.received++;
            return 1;
        }
        stats.not_ours++;
    }
}

unsigned rmac_pending(void)
{
    return rxq_head - rxq_tail;
}

#endif /* BOARD_HAS_RADIO */
