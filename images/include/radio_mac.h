/*
 * A minimal IEEE 802.15.4 MAC over the RAD1 packet radio (register-level
 * documentation: include/radio.h; this is the library over it,
 * lib/radio_mac.c), for boards with BOARD_HAS_RADIO (sensor-node, watch,
 * speaker, phone). It compiles to nothing elsewhere.
 *
 * Frames are 802.15.4 data frames with 16-bit addresses and PAN id
 * compression, 9 bytes of MAC header before the payload:
 *
 *   byte 0-1  frame control 0x8841, little-endian: data frame, PAN id
 *             compression, 16-bit destination and source addresses
 *   byte 2    sequence number (per sender, +1 per frame)
 *   byte 3-4  PAN id, little-endian
 *   byte 5-6  destination short address (0xFFFF: broadcast)
 *   byte 7-8  source short address
 *   byte 9..  payload, up to RMAC_MAX_PAYLOAD bytes
 *
 * The radio's address filter is on, so only frames for this node's
 * address or broadcast, on its PAN (or PAN 0xFFFF), arrive. There are no
 * MAC acknowledgements (RAD1 frames arrive intact or not at all; the
 * radio filter would not pass 802.15.4 ack frames anyway): a protocol
 * that needs them acknowledges with a data frame of its own.
 *
 * Sending uses unslotted CSMA-CA as 802.15.4-2006 7.5.1.4 describes it:
 * wait a random number of unit back-off periods (0 .. 2^BE - 1, 320 us
 * each, BE from 3 up to 5), look at the channel (CCA, 128 us), send if it
 * is clear, otherwise back off again, at most RMAC_CSMA_BACKOFFS + 1
 * times. The random numbers come from a generator seeded with the radio's
 * EUI and short address, so a device's back-offs are the same on every
 * run and differ between devices. The library owns no timer: it waits by
 * running CCAs back to back (each ends with an interrupt 128 us later)
 * and sleeps in WFI between interrupts, so the board's SysTick and timers
 * stay the image's.
 *
 * Received frames are copied out of the radio by the interrupt handler
 * into a queue of RMAC_RXQ_LEN frames, which frees the radio's single RX
 * buffer at once. The library does not own the vector table: an image
 * routes the radio's interrupt (radio.h names its handler):
 *
 *     void RADIO_IRQ_HANDLER(void) { rmac_irq(); }
 */
#ifndef ENSEMBLE_RADIO_MAC_H
#define ENSEMBLE_RADIO_MAC_H

#include <stdint.h>

#include "board.h"
#include "radio.h"

#define RMAC_HDR_LEN        9
#define RMAC_MAX_PAYLOAD    (RADIO_MAX_FRAME - RMAC_HDR_LEN)   /* 118 bytes */
#define RMAC_FRAME_CONTROL  (RADIO_FC_TYPE_DATA | RADIO_FC_PAN_ID_COMPRESSION | \
                             RADIO_FC_DEST_SHORT | RADIO_FC_SRC_SHORT)
#define RMAC_RXQ_LEN        8       /* frames; a power of two */
#define RMAC_CSMA_BACKOFFS  4       /* macMaxCSMABackoffs */
#define RMAC_MIN_BE         3       /* macMinBE */
#define RMAC_MAX_BE         5       /* aMaxBE */
#define RMAC_UNIT_BACKOFF_US 320    /* aUnitBackoffPeriod: 20 symbols of 16 us */

/* A received frame, header decoded. */
struct rmac_packet {
    uint16_t src, dst;      /* short addresses */
    uint16_t pan;
    uint8_t seq;
    int8_t rssi;            /* dBm */
    uint8_t lqi;            /* 0 (worst) .. 255 */
    uint8_t len;            /* payload bytes */
    uint8_t payload[RMAC_MAX_PAYLOAD];
};

struct rmac_stats {
    uint32_t sent;          /* frames put on the air */
    uint32_t send_failed;   /* given up: channel busy at every CCA */
    uint32_t cca_busy;      /* CCAs that found the channel in use */
    uint32_t received;      /* frames taken with rmac_recv */
    uint32_t not_ours;      /* frames dropped: not a data frame with short addresses */
    uint32_t queue_lost;    /* frames the queue had no room for */
};

/*
 * The radio's unique id (the EUI register, which Ensemble scenarios set to
 * the device's index + 1), or 0 if the board has no RAD1 radio.
 */
uint32_t rmac_eui(void);

/* A short address from an EUI: its low 16 bits, avoiding 0xFFFF
 * (broadcast) and 0xFFFE ("no short address"). */
uint16_t rmac_addr_from_eui(uint32_t eui);

/*
 * Set up the radio on channel (11..26) for PAN pan and short address
 * addr, address filter and receiver on, interrupt enabled in the NVIC.
 * Returns 0, or -1 without a RAD1 radio (every other call then does
 * nothing: rmac_send fails, rmac_recv finds nothing).
 */
int rmac_init(unsigned channel, uint16_t pan, uint16_t addr);
uint16_t rmac_addr(void);
uint16_t rmac_pan(void);

/*
 * Send len payload bytes (at most RMAC_MAX_PAYLOAD) to dst (RADIO_BROADCAST
 * for every node in range) with CSMA-CA; returns once the frame is off the
 * air (well under 10 ms: back-offs, CCAs and at most 4.3 ms of airtime),
 * sleeping meanwhile. Returns 0 when sent, -1 if the channel stayed busy
 * or there is no radio. Call from thread mode only.
 */
int rmac_send(uint16_t dst, const void *payload, unsigned len);

/* Take the oldest received frame into *p: 1, or 0 if there is none. */
int rmac_recv(struct rmac_packet *p);

/* Frames waiting in the queue (for a sleep-until-something-happens loop). */
unsigned rmac_pending(void);

const struct rmac_stats *rmac_stats(void);

/* The interrupt handler's body (see above). */
void rmac_irq(void);

#endif
