/*
 * SMSC LAN9118 10/100 Ethernet controller: the network port of the MPS2-based
 * boards (AN385/AN386, watch, speaker, phone: 0x4020_0000, IRQ 13; only the
 * sensor-node has none), and the driver in lib/net/lan9118.c.
 *
 * Register layout and bit meanings are from the LAN9118 datasheet (32-bit
 * bus mode: every register is one dword; the FIFO ports alias over 32-byte
 * windows so that a burst of LDM/STM can use consecutive addresses). The
 * driver only uses what QEMU's model (hw/net/lan9118.c) also implements.
 */
#ifndef ENSEMBLE_LAN9118_H
#define ENSEMBLE_LAN9118_H

#include <stdint.h>

#if !defined(BOARD_SENSOR_NODE)
#define LAN9118_BASE 0x40200000u
#define IRQ_ETHERNET 13
#endif

struct lan9118_regs {
    volatile uint32_t rx_data[8];       /* 0x00 RX data FIFO port (read)           */
    volatile uint32_t tx_data[8];       /* 0x20 TX data FIFO port (write)          */
    volatile uint32_t rx_status;        /* 0x40 RX status FIFO, pops               */
    volatile uint32_t rx_status_peek;   /* 0x44 the same without popping           */
    volatile uint32_t tx_status;        /* 0x48 TX status FIFO, pops               */
    volatile uint32_t tx_status_peek;   /* 0x4C                                    */
    volatile uint32_t id_rev;           /* 0x50 0x0118 in the chip-ID half         */
    volatile uint32_t irq_cfg;          /* 0x54 IRQ pin configuration              */
    volatile uint32_t int_sts;          /* 0x58 interrupt status, write 1 to clear */
    volatile uint32_t int_en;           /* 0x5C interrupt enables                  */
    uint32_t reserved0;                 /* 0x60                                    */
    volatile uint32_t byte_test;        /* 0x64 reads 0x87654321                   */
    volatile uint32_t fifo_int;         /* 0x68 FIFO interrupt thresholds          */
    volatile uint32_t rx_cfg;           /* 0x6C                                    */
    volatile uint32_t tx_cfg;           /* 0x70                                    */
    volatile uint32_t hw_cfg;           /* 0x74 soft reset, FIFO sizes             */
    volatile uint32_t rx_dp_ctrl;       /* 0x78 RX fast-forward                    */
    volatile uint32_t rx_fifo_inf;      /* 0x7C RX FIFO fill levels                */
    volatile uint32_t tx_fifo_inf;      /* 0x80 TX FIFO fill levels                */
    volatile uint32_t pmt_ctrl;         /* 0x84 power management, READY            */
    volatile uint32_t gpio_cfg;         /* 0x88                                    */
    volatile uint32_t gpt_cfg;          /* 0x8C general purpose timer              */
    volatile uint32_t gpt_cnt;          /* 0x90                                    */
    uint32_t reserved1;                 /* 0x94                                    */
    volatile uint32_t word_swap;        /* 0x98                                    */
    volatile uint32_t free_run;         /* 0x9C 25 MHz free-running counter        */
    volatile uint32_t rx_drop;          /* 0xA0 dropped-frame counter              */
    volatile uint32_t mac_csr_cmd;      /* 0xA4 indirect access to the MAC CSRs    */
    volatile uint32_t mac_csr_data;     /* 0xA8                                    */
    volatile uint32_t afc_cfg;          /* 0xAC automatic flow control             */
    volatile uint32_t e2p_cmd;          /* 0xB0 EEPROM command                     */
    volatile uint32_t e2p_data;         /* 0xB4                                    */
};

_Static_assert(__builtin_offsetof(struct lan9118_regs, rx_status) == 0x40, "LAN9118 layout");
_Static_assert(__builtin_offsetof(struct lan9118_regs, id_rev) == 0x50, "LAN9118 layout");
_Static_assert(__builtin_offsetof(struct lan9118_regs, byte_test) == 0x64, "LAN9118 layout");
_Static_assert(__builtin_offsetof(struct lan9118_regs, mac_csr_cmd) == 0xA4, "LAN9118 layout");
_Static_assert(__builtin_offsetof(struct lan9118_regs, e2p_data) == 0xB4, "LAN9118 layout");

#ifdef LAN9118_BASE
#define LAN9118 ((struct lan9118_regs *)LAN9118_BASE)
#endif

#define LAN9118_BYTE_TEST_VALUE 0x87654321u
#define LAN9118_CHIP_ID         0x0118u      /* ID_REV[31:16] */

/* IRQ_CFG: push-pull (TYPE) active-high (POL) output, enabled (EN). */
#define IRQ_CFG_IRQ_TYPE   (1u << 0)
#define IRQ_CFG_IRQ_POL    (1u << 4)
#define IRQ_CFG_IRQ_EN     (1u << 8)

/* INT_STS / INT_EN (the ones the driver uses) */
#define INT_RSFL           (1u << 3)    /* RX status FIFO above FIFO_INT level */
#define INT_TXE            (1u << 13)   /* transmitter error                   */
#define INT_RXE            (1u << 14)   /* receiver error                      */
#define INT_ALL            0xFFFFFFFFu

/* FIFO_INT: bits 7:0 RX status level; RSFL fires when more entries wait. */
#define FIFO_INT_RX_STS_LEVEL(n)  ((uint32_t)(n) & 0xFFu)

/* TX_CFG */
#define TX_CFG_TX_ON       (1u << 1)

/* HW_CFG */
#define HW_CFG_SRST        (1u << 0)    /* soft reset, self-clearing */

/* RX_DP_CTRL */
#define RX_DP_CTRL_FFWD    (1u << 31)   /* skip the rest of the current frame */

/* RX_FIFO_INF / TX_FIFO_INF */
#define RX_FIFO_INF_RXSUSED(v)  (((v) >> 16) & 0xFFu)   /* RX status entries */
#define TX_FIFO_INF_TXSUSED(v)  (((v) >> 16) & 0xFFu)   /* TX status entries */
#define TX_FIFO_INF_TDFREE(v)   ((v) & 0xFFFFu)         /* TX data bytes free */

/* PMT_CTRL */
#define PMT_CTRL_READY     (1u << 0)

/* MAC_CSR_CMD: set BUSY to start an access; it reads 0 once done. */
#define MAC_CSR_CMD_BUSY   (1u << 31)
#define MAC_CSR_CMD_READ   (1u << 30)

/* MAC CSR indices */
#define MAC_CR             1
#define MAC_ADDRH          2   /* MAC bytes 4 (bits 7:0) and 5 (bits 15:8) */
#define MAC_ADDRL          3   /* MAC bytes 0..3, byte 0 in bits 7:0       */
#define MAC_HASHH          4
#define MAC_HASHL          5
#define MAC_MII_ACC        6
#define MAC_MII_DATA       7

/* MAC_CR */
#define MAC_CR_RXEN        (1u << 2)
#define MAC_CR_TXEN        (1u << 3)
#define MAC_CR_BCAST       (1u << 11)   /* 1 = disable broadcast reception        */
#define MAC_CR_HPFILT      (1u << 13)   /* multicast through the 64-bit hash      */
#define MAC_CR_PRMS        (1u << 18)   /* promiscuous (the reset value!)         */
#define MAC_CR_MCPAS       (1u << 19)   /* pass all multicast                     */
#define MAC_CR_FDPX        (1u << 20)   /* full duplex                            */

/* MII_ACC: PHY address 15:11, register 10:6, write 1, busy 0. */
#define MII_ACC_BUSY       (1u << 0)
#define MII_ACC_WRITE      (1u << 1)
#define MII_ACC(phy, reg)  (((uint32_t)(phy) << 11) | ((uint32_t)(reg) << 6))
#define LAN9118_PHY_ADDR   1            /* the internal PHY */

/* PHY registers (IEEE 802.3 clause 22) */
#define PHY_BMCR           0
#define PHY_BMSR           1
#define PHY_ANAR           4
#define PHY_ANLPAR         5
#define BMCR_RESET         (1u << 15)
#define BMCR_ANENABLE      (1u << 12)
#define BMCR_ANRESTART     (1u << 9)
#define BMSR_LINK          (1u << 2)    /* latches low: read twice for "now" */
#define BMSR_ANCOMPLETE    (1u << 5)
#define ANAR_SELECTOR_8023 0x0001u
#define ANAR_10HD          (1u << 5)
#define ANAR_10FD          (1u << 6)
#define ANAR_100HD         (1u << 7)
#define ANAR_100FD         (1u << 8)

/* TX command A: interrupt on completion, end alignment, data offset,
 * first/last segment, buffer size. The driver sends every frame as one
 * segment with 4-byte end alignment and no offset. */
#define TXCMDA_FIRST_SEG   (1u << 13)
#define TXCMDA_LAST_SEG    (1u << 12)
#define TXCMDA_SIZE(n)     ((uint32_t)(n) & 0x7FFu)
/* TX command B: packet tag 31:16 (echoed in the TX status), length 10:0. */
#define TXCMDB_TAG(t)      ((uint32_t)(t) << 16)
#define TXCMDB_LEN(n)      ((uint32_t)(n) & 0x7FFu)
/* TX status: tag 31:16, error summary 15. */
#define TXSTS_TAG(v)       ((v) >> 16)
#define TXSTS_ES           (1u << 15)

/* RX status: filter fail 30, length 29:16 (includes the 4-byte FCS),
 * error summary 15 (runt, too long, late collision, CRC), broadcast 13,
 * multicast 10. */
#define RXSTS_FILTER_FAIL  (1u << 30)
#define RXSTS_LEN(v)       (((v) >> 16) & 0x3FFFu)
#define RXSTS_ES           (1u << 15)
#define RXSTS_BCAST        (1u << 13)
#define RXSTS_MCAST        (1u << 10)

#define ETH_FCS_LEN        4
#define ETH_FRAME_MAX      1514        /* header + 1500, without FCS */

/* ---- driver API (lib/net/lan9118.c) ------------------------------------ */

struct lan9118_link {
    int up;             /* link and autonegotiation complete */
    unsigned mbps;      /* 10 or 100 */
    int full_duplex;
};

struct lan9118_stats {
    uint32_t tx_frames, tx_errors;
    uint32_t rx_frames, rx_errors;   /* rx_errors: frames discarded */
    uint32_t rx_irqs;
};

/*
 * Soft-reset the chip, wait for READY, set up the PHY (autonegotiation,
 * waiting at most timeout_ms for the link: needs net_clock_init() first)
 * and enable the transmitter and receiver. The MAC address is read from
 * ADDRH/ADDRL, where the chip's EEPROM loader (and QEMU and Ensemble) put
 * it; a non-NULL mac_override replaces it. Filters: own address,
 * broadcast, and the multicast groups added with lan9118_add_multicast.
 * Returns 0, or -1 if no LAN9118 answers.
 */
int lan9118_init(const uint8_t *mac_override, uint32_t timeout_ms);
void lan9118_get_mac(uint8_t mac[6]);
void lan9118_set_mac(const uint8_t mac[6]);
const struct lan9118_link *lan9118_link(void);
const struct lan9118_stats *lan9118_stats(void);

/* Receive frames whose destination is this Ethernet multicast address. */
void lan9118_add_multicast(const uint8_t mac[6]);

/* Send one Ethernet frame (header included, FCS not); waits for its TX
 * status. Returns 0, or -1 on a TX error or a full FIFO. */
int lan9118_send(const void *frame, unsigned len);

/*
 * Polling receive: copies the next good frame (without FCS) into buf and
 * returns its length, or 0 if none is waiting. Frames with an error, or
 * longer than size, are discarded and counted in rx_errors.
 */
int lan9118_recv(void *buf, unsigned size);

/*
 * Interrupt-driven receive: enables RSFL (a frame's status arrived) on
 * IRQ 13. The handler (IRQ13_Handler, defined by the driver, so a network
 * image must not define it) only acknowledges the interrupt and sets a
 * flag: the frames stay in the chip's RX FIFO until lan9118_recv() takes
 * them, so nothing is copied in interrupt context. lan9118_rx_pending()
 * says whether a frame arrived since the last lan9118_recv() call began;
 * a main loop drains with lan9118_recv() and sleeps only while it is 0.
 */
void lan9118_enable_rx_irq(void);
int lan9118_rx_pending(void);

#endif
