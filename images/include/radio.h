/*
 * Ensemble packet radio "RAD1": a 2.4 GHz IEEE 802.15.4-like transceiver
 * for the smallest boards. It is Ensemble's own design (no real chip), so
 * this header is its documentation; the model is devices/src/radio.rs.
 * QEMU has no such device: images using it run on Ensemble only.
 *
 * Sensor-node board: registers at 0x4000_A000 (a 4 KiB window), IRQ 6; watch,
 * speaker and phone: 0x4010_6000, IRQ 31 (see RADIO_IRQ_HANDLER below).
 *
 * ---- What it does -------------------------------------------------------
 *
 * One frame buffer each way. The driver writes up to 127 bytes into
 * TX_BUF, their number into TX_LEN, and sets CTRL.TX_START; TX_DONE
 * follows when the frame has been on the air for its full airtime. With
 * CTRL.RX_ON set, a frame heard on CHANNEL lands in RX_BUF and raises
 * RX_DONE; the buffer then stays the driver's until it writes RX_DONE to
 * INT_STS. CTRL.CCA_START measures whether the channel is in use.
 *
 * The bytes sent and received are the 802.15.4 PSDU without its FCS: the
 * radio adds no checksum and checks none (frames arrive intact or not at
 * all), sends no acknowledgements and never retries. Everything above
 * the PHY (frame format, sequence numbers, acks, CSMA back-off) is the
 * driver's, except the optional address filter below.
 *
 * ---- Timing ---------------------------------------------------------------
 *
 * 250 kbit/s: one byte takes 32 us on the air, and a frame of n bytes
 * occupies it for (n + 6) * 32 us, the 6 being preamble, SFD and length
 * byte: 416 us for 7 bytes, 1.2 ms for 32, 4.3 ms for 127. A CCA takes
 * 128 us. These are times of the emulated machine (its clock, not the
 * host's), exact to the tick.
 *
 * ---- Receiving ------------------------------------------------------------
 *
 * The receiver listens while CTRL.RX_ON is set and the radio is not
 * transmitting (STATUS.RX_ON shows it: the radio is half-duplex). A frame
 * on CHANNEL is taken when it starts (STATUS.RX_ACTIVE while it is on the
 * air) and completes when it ends: then RX_BUF holds it, RX_LEN its length,
 * RX_RSSI and RX_LQI how well it was heard, RX_COUNT increments and
 * INT_STS.RX_DONE (= STATUS.RX_PENDING) is set.
 *
 * A frame is lost, and counted in RX_DROPPED, when:
 *  - it ends while RX_DONE is still set: the buffer is not overwritten,
 *    INT_STS.RX_OVERFLOW is raised instead;
 *  - it overlaps another frame on the channel (a collision: both are lost);
 *  - the driver sets TX_START, clears RX_ON or changes CHANNEL while it is
 *    being received.
 * So read RX_BUF first, then write RX_DONE to INT_STS, and do it within one
 * frame time (at least 416 us) if frames may come back to back.
 *
 * Address filter (CTRL.ADDR_FILTER): only data frames addressed to this
 * node pass. The radio looks at the MAC header that starts the PSDU:
 *   byte 0-1  frame control, little-endian: b2:0 frame type (1 = data),
 *             b11:10 destination address mode (2 = 16-bit short address)
 *   byte 2    sequence number
 *   byte 3-4  destination PAN id, little-endian
 *   byte 5-6  destination short address, little-endian
 * and accepts the frame if the type is data, the destination mode is
 * short, the PAN id is PAN_ID or 0xFFFF and the address is SHORT_ADDR or
 * 0xFFFF (broadcast). Other frames are ignored without a trace. Without
 * the filter every frame on the channel is received.
 *
 * ---- Clear channel assessment --------------------------------------------
 *
 * Setting CTRL.CCA_START starts a 128 us measurement (STATUS.CCA_ACTIVE);
 * at its end INT_STS.CCA_DONE is raised and STATUS.CCA_BUSY holds the
 * result until the next CCA: 1 if any frame was on the air on CHANNEL at
 * some point during the measurement (or the radio itself was sending).
 * The radio hears the channel whether RX_ON is set or not, so CCA works
 * with the receiver off. Starting a CCA while one runs restarts it.
 *
 * Under Ensemble, a frame another device sends is on the air for CCA from
 * the first lockstep quantum boundary after it starts (the quantum is at
 * most the network's latency, 1 ms by default) until it ends, at every
 * radio that hears it at or above the medium's carrier-sense level. Two
 * devices that assess the channel within that window of each other both
 * find it clear and collide, as two real radios do within a CCA time.
 *
 * ---- Interrupts -----------------------------------------------------------
 *
 * INT_STS bits are set by their events whatever INT_EN holds, and cleared
 * by writing 1 to them. The interrupt line is high while
 * (INT_STS & INT_EN) != 0, so a handler must clear what it handled.
 *
 * ---- Register access -----------------------------------------------------
 *
 * Registers are 32 bits wide: use word accesses (the struct below does).
 * Narrow reads are fine; a narrow write must be at the register's own
 * address and is zero-extended (TX_POWER: sign-extended). TX_BUF and
 * RX_BUF take byte, halfword and word accesses, little-endian. Reset
 * values in brackets; unlisted offsets read 0 and ignore writes.
 *
 * A minimal driver:
 *
 *     RADIO->channel = 15;
 *     RADIO->pan_id = pan;  RADIO->short_addr = addr;
 *     RADIO->int_en = RADIO_INT_RX_DONE;
 *     RADIO->ctrl = RADIO_CTRL_RX_ON | RADIO_CTRL_ADDR_FILTER;
 *     nvic_enable(IRQ_RADIO);
 *
 *     send: copy the frame into RADIO->tx_buf, RADIO->tx_len = n,
 *           RADIO->ctrl |= RADIO_CTRL_TX_START, wait for INT_STS.TX_DONE,
 *           write it back to INT_STS.
 *     IRQ:  if (RADIO->int_sts & RADIO_INT_RX_DONE): copy RADIO->rx_len
 *           bytes out of RADIO->rx_buf, then
 *           RADIO->int_sts = RADIO_INT_RX_DONE.
 */
#ifndef ENSEMBLE_RADIO_H
#define ENSEMBLE_RADIO_H

#include <stdint.h>

#if defined(BOARD_SENSOR_NODE)
#define RADIO_BASE 0x4000A000u
#define IRQ_RADIO  6
#endif

#define RADIO_MAX_FRAME 127   /* bytes of PSDU, FCS not included */

struct radio_regs {
    volatile uint32_t id;         /* 0x00 RO  0x52414431, "RAD1"                     */
    volatile uint32_t ctrl;       /* 0x04 RW  RADIO_CTRL_* [0]                        */
    volatile uint32_t status;     /* 0x08 RO  RADIO_STATUS_* [0]                      */
    volatile uint32_t int_en;     /* 0x0C RW  RADIO_INT_* enables [0]                 */
    volatile uint32_t int_sts;    /* 0x10 W1C RADIO_INT_* events [0]                  */
    volatile uint32_t channel;    /* 0x14 RW  11..26, clamped [11]: 2405 + 5 * (ch - 11) MHz */
    volatile int32_t  tx_power;   /* 0x18 RW  dBm, -20..+8, clamped [0]               */
    volatile uint32_t short_addr; /* 0x1C RW  b15:0 own address, for the filter [0xFFFF] */
    volatile uint32_t pan_id;     /* 0x20 RW  b15:0 own PAN id, for the filter [0xFFFF] */
    volatile uint32_t tx_len;     /* 0x24 RW  bytes to send, 0..127, clamped [0]      */
    volatile uint32_t rx_len;     /* 0x28 RO  bytes in RX_BUF, 1..127 [0]             */
    volatile int32_t  rx_rssi;    /* 0x2C RO  signal strength of that frame, dBm [0]  */
    volatile uint32_t rx_lqi;     /* 0x30 RO  its link quality, 0 (worst)..255 [0]    */
    volatile uint32_t rx_count;   /* 0x34 RO  frames received (RX_DONE events) [0]    */
    volatile uint32_t tx_count;   /* 0x38 RO  frames sent (TX_DONE events) [0]        */
    volatile uint32_t eui;        /* 0x3C RO  unique id of this radio, set by the emulator; kept across reset */
    volatile uint32_t rx_dropped; /* 0x40 RO  frames lost: overflow, collision, aborted [0] */
    uint32_t reserved0[47];       /* 0x44..0xFF                                       */
    union {                       /* 0x100 RW frame to send                           */
        volatile uint8_t  tx_buf[128];
        volatile uint32_t tx_buf32[32];
    };
    uint32_t reserved1[32];       /* 0x180..0x1FF                                     */
    union {                       /* 0x200 RO last frame received                     */
        volatile uint8_t  rx_buf[128];
        volatile uint32_t rx_buf32[32];
    };
};

_Static_assert(__builtin_offsetof(struct radio_regs, eui) == 0x3C, "radio layout");
_Static_assert(__builtin_offsetof(struct radio_regs, rx_dropped) == 0x40, "radio layout");
_Static_assert(__builtin_offsetof(struct radio_regs, tx_buf) == 0x100, "radio layout");
_Static_assert(__builtin_offsetof(struct radio_regs, rx_buf) == 0x200, "radio layout");

/*
 * The MPS2-based profiles with a radio (watch, speaker, phone) have it after
 * Ensemble's other devices (0x4010_0000.., IRQ 25-30); the MPS2 boards
 * themselves (AN385, AN386) have none. RADIO_IRQ_HANDLER names the handler
 * an image defines for it: `void RADIO_IRQ_HANDLER(void) { ... }`.
 */
#if defined(BOARD_WATCH) || defined(BOARD_SPEAKER) || defined(BOARD_PHONE)
#define RADIO_BASE 0x40106000u
#define IRQ_RADIO  31
#define RADIO_IRQ_HANDLER IRQ31_Handler
#elif defined(BOARD_SENSOR_NODE)
#define RADIO_IRQ_HANDLER IRQ6_Handler
#endif

#ifdef RADIO_BASE
#define RADIO ((struct radio_regs *)RADIO_BASE)
#endif

#define RADIO_ID_VALUE 0x52414431u

/*
 * CTRL. RX_ON and ADDR_FILTER are settings and read back; TX_START and
 * CCA_START are commands: writing 1 starts the operation, they read 0, so
 * `ctrl |= RADIO_CTRL_TX_START` keeps the settings.
 *  TX_START   send TX_LEN bytes of TX_BUF now, without looking at the
 *             channel (do a CCA first for that). Ignored while TX_BUSY or
 *             with TX_LEN 0. The frame is taken from TX_BUF at once, so
 *             the next one may be written while this one is on the air.
 *             Cuts off a frame being received.
 *  CCA_START  start a clear channel assessment (see above).
 */
#define RADIO_CTRL_RX_ON        (1u << 0)   /* receiver on (when not transmitting) */
#define RADIO_CTRL_TX_START     (1u << 1)
#define RADIO_CTRL_CCA_START    (1u << 2)
#define RADIO_CTRL_ADDR_FILTER  (1u << 3)   /* accept only frames for SHORT_ADDR/PAN_ID */

/* STATUS, read-only. */
#define RADIO_STATUS_TX_BUSY    (1u << 0)   /* a frame is on the air, from TX_START to TX_DONE */
#define RADIO_STATUS_RX_PENDING (1u << 1)   /* RX_BUF holds a frame: INT_STS.RX_DONE */
#define RADIO_STATUS_CCA_BUSY   (1u << 2)   /* result of the last CCA: channel in use */
#define RADIO_STATUS_RX_ON      (1u << 3)   /* the receiver is listening now */
#define RADIO_STATUS_RX_ACTIVE  (1u << 4)   /* a frame is being received now */
#define RADIO_STATUS_CCA_ACTIVE (1u << 5)   /* a CCA is in progress */

/* INT_EN / INT_STS */
#define RADIO_INT_TX_DONE       (1u << 0)   /* the frame has been sent */
#define RADIO_INT_RX_DONE       (1u << 1)   /* a frame is in RX_BUF; clearing it frees the buffer */
#define RADIO_INT_CCA_DONE      (1u << 2)   /* CCA finished, result in STATUS.CCA_BUSY */
#define RADIO_INT_RX_OVERFLOW   (1u << 3)   /* a frame was lost because RX_DONE was still set */
#define RADIO_INT_ALL           0xFu

#define RADIO_BROADCAST         0xFFFFu     /* PAN id or short address */

/*
 * 802.15.4 frame control values for data frames with 16-bit addresses
 * (IEEE 802.15.4-2006, 7.2.1.1), as the address filter expects them.
 */
#define RADIO_FC_TYPE_DATA          0x0001u
#define RADIO_FC_ACK_REQUEST        0x0020u
#define RADIO_FC_PAN_ID_COMPRESSION 0x0040u     /* source PAN = destination PAN, not sent */
#define RADIO_FC_DEST_SHORT         0x0800u     /* destination address mode 2 */
#define RADIO_FC_SRC_SHORT          0x8000u     /* source address mode 2 */

#endif
