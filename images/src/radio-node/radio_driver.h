/*
 * Interrupt-driven driver for the RAD1 packet radio (include/radio.h),
 * in radio.c. Received frames are copied out of the radio by its interrupt
 * handler into a small queue, which frees the radio's single RX buffer at
 * once; sending and CCA sleep until their completion interrupt.
 */
#ifndef RADIO_DRIVER_H
#define RADIO_DRIVER_H

#include <stdint.h>

#include "radio.h"

struct radio_frame {
    union {                 /* the PSDU, word-aligned for word copies */
        uint8_t data[128];
        uint32_t data32[32];
    };
    uint8_t len;            /* bytes in data, 1..RADIO_MAX_FRAME */
    int8_t rssi;            /* dBm (received frames) */
    uint8_t lqi;            /* 0..255 (received frames) */
};

/* Set up the radio and turn the receiver on, with the address filter for
 * (pan, short_addr). Returns 0 if there is no RAD1 radio at RADIO_BASE. */
int radio_init(unsigned channel, uint16_t pan, uint16_t short_addr);

/* The radio's unique id (EUI register). */
uint32_t radio_eui(void);

/* Clear channel assessment: 1 if the channel is free (takes 128 us). */
int radio_cca(void);

/* Send f->len bytes of f->data; returns when the frame is off the air. */
void radio_send(const struct radio_frame *f);

/* Take the oldest received frame: 1 if there was one. */
int radio_recv(struct radio_frame *f);

/* Frames the queue had no room for. */
unsigned radio_queue_lost(void);

/* Receiver and interrupts off. */
void radio_off(void);

#endif
