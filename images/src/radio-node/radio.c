/* RAD1 packet radio driver; see radio_driver.h and include/radio.h. */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"
#include "radio_driver.h"

_Static_assert(IRQ_RADIO == 6, "the handler below is IRQ6_Handler");

#define RXQ_LEN 4u   /* frames; a power of two */

static struct radio_frame rxq[RXQ_LEN];
/* head is advanced by the handler, tail by radio_recv(); they only grow. */
static volatile unsigned rxq_head, rxq_tail;
static volatile unsigned rxq_lost;
/* Completion events (RADIO_INT_TX_DONE, RADIO_INT_CCA_DONE) not yet waited for. */
static volatile uint32_t events;

void IRQ6_Handler(void)
{
    uint32_t sts = RADIO->int_sts;

    if (sts & RADIO_INT_RX_DONE) {
        unsigned head = rxq_head;
        if (head - rxq_tail < RXQ_LEN) {
            struct radio_frame *f = &rxq[head % RXQ_LEN];
            f->len = (uint8_t)RADIO->rx_len;
            f->rssi = (int8_t)RADIO->rx_rssi;
            f->lqi = (uint8_t)RADIO->rx_lqi;
            for (unsigned i = 0; i < (f->len + 3u) / 4u; i++)
                f->data32[i] = RADIO->rx_buf32[i];
            rxq_head = head + 1;
        } else {
            rxq_lost++;
        }
    }
    events |= sts & (RADIO_INT_TX_DONE | RADIO_INT_CCA_DONE);
    /* Only after the copy: clearing RX_DONE hands the buffer back. */
    RADIO->int_sts = sts;
}

/* Sleep until the handler has seen `event`, and consume it. Interrupts are
 * masked around the test so that the event cannot slip in between the test
 * and the WFI; WFI still wakes for the masked interrupt, which is then
 * taken when they are unmasked. */
static void wait_event(uint32_t event)
{
    cpu_irq_disable();
    while (!(events & event)) {
        cpu_wfi();
        cpu_irq_enable();
        cpu_isb();
        cpu_irq_disable();
    }
    events &= ~event;
    cpu_irq_enable();
}

int radio_init(unsigned channel, uint16_t pan, uint16_t short_addr)
{
    if (RADIO->id != RADIO_ID_VALUE)
        return 0;
    RADIO->ctrl = 0;
    RADIO->channel = channel;
    RADIO->pan_id = pan;
    RADIO->short_addr = short_addr;
    RADIO->int_sts = RADIO_INT_ALL;
    RADIO->int_en = RADIO_INT_TX_DONE | RADIO_INT_RX_DONE | RADIO_INT_CCA_DONE;
    nvic_set_priority(IRQ_RADIO, PRIO(2));
    nvic_enable(IRQ_RADIO);
    RADIO->ctrl = RADIO_CTRL_RX_ON | RADIO_CTRL_ADDR_FILTER;
    return 1;
}

uint32_t radio_eui(void)
{
    return RADIO->eui;
}

int radio_cca(void)
{
    RADIO->ctrl |= RADIO_CTRL_CCA_START;
    wait_event(RADIO_INT_CCA_DONE);
    return !(RADIO->status & RADIO_STATUS_CCA_BUSY);
}

void radio_send(const struct radio_frame *f)
{
    for (unsigned i = 0; i < (f->len + 3u) / 4u; i++)
        RADIO->tx_buf32[i] = f->data32[i];
    RADIO->tx_len = f->len;
    RADIO->ctrl |= RADIO_CTRL_TX_START;
    wait_event(RADIO_INT_TX_DONE);
}

int radio_recv(struct radio_frame *f)
{
    unsigned tail = rxq_tail;

    if (tail == rxq_head)
        return 0;
    *f = rxq[tail % RXQ_LEN];
    rxq_tail = tail + 1;
    return 1;
}

unsigned radio_queue_lost(void)
{
    return rxq_lost;
}

void radio_off(void)
{
    RADIO->ctrl = 0;
    RADIO->int_en = 0;
    nvic_disable(IRQ_RADIO);
    RADIO->int_sts = RADIO_INT_ALL;
    nvic_clear_pending(IRQ_RADIO);
}
