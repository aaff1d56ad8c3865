/*
 * LAN9118 driver; see include/lan9118.h for the API and the register
 * layout. One frame per TX buffer, no RX data offset, 4-byte alignment
 * everywhere, so each FIFO transfer is "length rounded up to dwords".
 */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"
#include "lan9118.h"
#include "net.h"

/* Compiled for every board (scripts/build-images.sh), but only MPS2 boards
 * have the chip. */
#ifdef LAN9118_BASE

#define REGS LAN9118

/* Register accesses are immediate on QEMU and Ensemble, and take at most
 * microseconds on the chip (a soft reset is the slowest), so busy waits
 * are bounded by an iteration count rather than by the clock. */
#define SPIN_LIMIT 1000000u

static struct lan9118_link link;
static struct lan9118_stats stats;
static uint16_t tx_tag;
static volatile int rx_pending;
static uint32_t hash_hi, hash_lo;

static int wait_clear(volatile uint32_t *reg, uint32_t bits)
{
    for (uint32_t i = 0; i < SPIN_LIMIT; i++)
        if (!(*reg & bits))
            return 0;
    return -1;
}

/* ---- MAC CSRs (indirect, through MAC_CSR_CMD/DATA) ---------------------- */

static uint32_t mac_read(unsigned index)
{
    wait_clear(&REGS->mac_csr_cmd, MAC_CSR_CMD_BUSY);
    REGS->mac_csr_cmd = MAC_CSR_CMD_BUSY | MAC_CSR_CMD_READ | index;
    wait_clear(&REGS->mac_csr_cmd, MAC_CSR_CMD_BUSY);
    return REGS->mac_csr_data;
}

static void mac_write(unsigned index, uint32_t value)
{
    wait_clear(&REGS->mac_csr_cmd, MAC_CSR_CMD_BUSY);
    REGS->mac_csr_data = value;
    REGS->mac_csr_cmd = MAC_CSR_CMD_BUSY | index;
    wait_clear(&REGS->mac_csr_cmd, MAC_CSR_CMD_BUSY);
}

/* ---- PHY registers (MII management, through two more MAC CSRs) ---------- */

static void mii_wait(void)
{
    for (uint32_t i = 0; i < SPIN_LIMIT; i++)
        if (!(mac_read(MAC_MII_ACC) & MII_ACC_BUSY))
            return;
}

static uint16_t phy_read(unsigned reg)
{
    mii_wait();
    mac_write(MAC_MII_ACC, MII_ACC(LAN9118_PHY_ADDR, reg) | MII_ACC_BUSY);
    mii_wait();
    return (uint16_t)mac_read(MAC_MII_DATA);
}

static void phy_write(unsigned reg, uint16_t value)
{
    mii_wait();
    mac_write(MAC_MII_DATA, value);
    mac_write(MAC_MII_ACC, MII_ACC(LAN9118_PHY_ADDR, reg) | MII_ACC_WRITE | MII_ACC_BUSY);
    mii_wait();
}

/* Reset the PHY, advertise 10/100 half/full duplex, autonegotiate and wait
 * for the link; then take the best mode both ends advertise. */
static void phy_start(uint32_t timeout_ms)
{
    phy_write(PHY_BMCR, BMCR_RESET);
    for (uint32_t i = 0; i < SPIN_LIMIT && (phy_read(PHY_BMCR) & BMCR_RESET); i++)
        ;
    uint16_t ours = ANAR_SELECTOR_8023 | ANAR_10HD | ANAR_10FD | ANAR_100HD | ANAR_100FD;
    phy_write(PHY_ANAR, ours);
    phy_write(PHY_BMCR, BMCR_ANENABLE | BMCR_ANRESTART);

    uint32_t deadline = net_now_ms() + timeout_ms;
    uint16_t bmsr = 0;
    for (;;) {
        /* BMSR.LINK latches a loss of link until read: the first read
         * reports the past, the second the present. */
        (void)phy_read(PHY_BMSR);
        bmsr = phy_read(PHY_BMSR);
        if ((bmsr & (BMSR_LINK | BMSR_ANCOMPLETE)) == (BMSR_LINK | BMSR_ANCOMPLETE))
            break;
        if (net_time_reached(deadline))
            break;
        net_idle();   /* the clock's alarm wakes us in a millisecond */
    }
    link.up = (bmsr & (BMSR_LINK | BMSR_ANCOMPLETE)) == (BMSR_LINK | BMSR_ANCOMPLETE);
    uint16_t common = ours & phy_read(PHY_ANLPAR);
    link.mbps = (common & (ANAR_100FD | ANAR_100HD)) ? 100 : 10;
    link.full_duplex = (common & ANAR_100FD) ||
                       (!(common & ANAR_100HD) && (common & ANAR_10FD));
}

/* ---- set-up -------------------------------------------------------------- */

int lan9118_init(const uint8_t *mac_override, uint32_t timeout_ms)
{
    /* BYTE_TEST is readable even before the chip is ready, and proves the
     * bus works (and its byte order). */
    if (REGS->byte_test != LAN9118_BYTE_TEST_VALUE)
        return -1;
    REGS->hw_cfg = HW_CFG_SRST;
    if (wait_clear(&REGS->hw_cfg, HW_CFG_SRST) < 0)
        return -1;
    for (uint32_t i = 0; i < SPIN_LIMIT && !(REGS->pmt_ctrl & PMT_CTRL_READY); i++)
        ;
    if (!(REGS->pmt_ctrl & PMT_CTRL_READY) || (REGS->id_rev >> 16) != LAN9118_CHIP_ID)
        return -1;

    /* Until IRQ_CFG selects an active-high push-pull output, the IRQ line
     * idles high (active low), which the NVIC would see as a pending IRQ
     * 13; set it before anything can raise an interrupt. */
    REGS->int_en = 0;
    REGS->int_sts = INT_ALL;
    REGS->irq_cfg = IRQ_CFG_IRQ_EN | IRQ_CFG_IRQ_POL | IRQ_CFG_IRQ_TYPE;

    if (mac_override)
        lan9118_set_mac(mac_override);

    phy_start(timeout_ms);

    hash_hi = hash_lo = 0;
    mac_write(MAC_HASHH, 0);
    mac_write(MAC_HASHL, 0);
    REGS->fifo_int = FIFO_INT_RX_STS_LEVEL(0);   /* RSFL for every frame */
    REGS->tx_cfg = TX_CFG_TX_ON;
    /* The reset value of MAC_CR is promiscuous; we want our own address,
     * broadcast (BCAST clear) and hashed multicast only. */
    mac_write(MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_HPFILT |
                      (link.full_duplex ? MAC_CR_FDPX : 0));
    return 0;
}

void lan9118_get_mac(uint8_t mac[6])
{
    uint32_t lo = mac_read(MAC_ADDRL), hi = mac_read(MAC_ADDRH);

    mac[0] = (uint8_t)lo;
    mac[1] = (uint8_t)(lo >> 8);
    mac[2] = (uint8_t)(lo >> 16);
    mac[3] = (uint8_t)(lo >> 24);
    mac[4] = (uint8_t)hi;
    mac[5] = (uint8_t)(hi >> 8);
}

void lan9118_set_mac(const uint8_t m[6])
{
    mac_write(MAC_ADDRL, (uint32_t)m[0] | (uint32_t)m[1] << 8 |
                         (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24);
    mac_write(MAC_ADDRH, (uint32_t)m[4] | (uint32_t)m[5] << 8);
}

const struct lan9118_link *lan9118_link(void)
{
    return &link;
}

const struct lan9118_stats *lan9118_stats(void)
{
    return &stats;
}

/*
 * The MAC's multicast filter is a 64-bit table indexed by the top 6 bits
 * of the Ethernet CRC-32 of the destination address (bits taken LSB
 * first, MSB-first shift register, no final inversion); index bit 5
 * selects HASHH.
 */
void lan9118_add_multicast(const uint8_t mac[6])
{
    uint32_t crc = 0xFFFFFFFFu;

    for (unsigned i = 0; i < 6; i++) {
        uint8_t b = mac[i];
        for (unsigned bit = 0; bit < 8; bit++, b >>= 1) {
            uint32_t carry = (crc >> 31) ^ (b & 1u);
            crc <<= 1;
            if (carry)
                crc ^= 0x04C11DB7u;
        }
    }
    unsigned index = crc >> 26;
    if (index & 0x20) {
        hash_hi |= 1u << (index & 31);
        mac_write(MAC_HASHH, hash_hi);
    } else {
        hash_lo |= 1u << (index & 31);
        mac_write(MAC_HASHL, hash_lo);
    }
}

/* ---- transmit ------------------------------------------------------------ */

int lan9118_send(const void *frame, unsigned len)
{
    const uint8_t *p = frame;
    unsigned dwords = (len + 3) / 4;

    if (len > ETH_FRAME_MAX || TX_FIFO_INF_TDFREE(REGS->tx_fifo_inf) < dwords * 4 + 8) {
        stats.tx_errors++;
        return -1;
    }
    uint16_t tag = ++tx_tag;
    REGS->tx_data[0] = TXCMDA_FIRST_SEG | TXCMDA_LAST_SEG | TXCMDA_SIZE(len);
    REGS->tx_data[0] = TXCMDB_TAG(tag) | TXCMDB_LEN(len);
    /* The FIFO takes dwords little-endian: the first byte in bits 7:0.
     * Bytes past len in the last dword are ignored. */
    for (unsigned i = 0; i < len; i += 4) {
        uint32_t w = 0;
        for (unsigned b = 0; b < 4 && i + b < len; b++)
            w |= (uint32_t)p[i + b] << (8 * b);
        REGS->tx_data[0] = w;
    }

    /* Wait for this frame's status (TX_CFG.TXSAO is clear, so every frame
     * leaves one): the tag ties it to the frame, ES reports failure. */
    for (uint32_t i = 0; i < SPIN_LIMIT; i++) {
        if (TX_FIFO_INF_TXSUSED(REGS->tx_fifo_inf)) {
            uint32_t sts = REGS->tx_status;
            if (TXSTS_TAG(sts) != tag || (sts & TXSTS_ES))
                break;
            stats.tx_frames++;
            return 0;
        }
    }
    stats.tx_errors++;
    return -1;
}

/* ---- receive ------------------------------------------------------------- */

/*
 * Drop the rest of a frame whose status has been read. The datasheet's
 * fast-forward needs at least 4 dwords (shorter frames are read out) and
 * is only used for frames with an error: QEMU's model never reports one,
 * and its fast-forward leaves the FIFO out of step (see README), so
 * oversized frames, which QEMU can deliver, are read out instead.
 */
static void rx_discard(unsigned dwords, int fast_forward)
{
    if (fast_forward && dwords >= 4) {
        REGS->rx_dp_ctrl = RX_DP_CTRL_FFWD;
        wait_clear(&REGS->rx_dp_ctrl, RX_DP_CTRL_FFWD);
    } else {
        while (dwords--)
            (void)REGS->rx_data[0];
    }
}

int lan9118_recv(void *buf, unsigned size)
{
    uint8_t *p = buf;

    /* Cleared before looking at the FIFO, so a frame that arrives after
     * the look sets it again and the caller does not go to sleep. */
    rx_pending = 0;
    cpu_dsb();
    for (;;) {
        if (RX_FIFO_INF_RXSUSED(REGS->rx_fifo_inf) == 0)
            return 0;
        uint32_t sts = REGS->rx_status;
        unsigned total = RXSTS_LEN(sts);          /* includes the FCS */
        unsigned dwords = (total + 3) / 4;
        if ((sts & (RXSTS_ES | RXSTS_FILTER_FAIL)) || total < ETH_HLEN + ETH_FCS_LEN) {
            rx_discard(dwords, 1);
            stats.rx_errors++;
            continue;
        }
        unsigned len = total - ETH_FCS_LEN;
        if (len > size) {
            rx_discard(dwords, 0);
            stats.rx_errors++;
            continue;
        }
        /* A word-aligned buffer takes whole dwords (the FIFO's byte order
         * is the CPU's); the bytes of a last partial one, and the FCS,
         * go one by one or nowhere. */
        unsigned i = 0, n = 0;
        if (((uintptr_t)p & 3u) == 0)
            for (; n + 4 <= len; i++, n += 4) {
                uint32_t w = REGS->rx_data[0];
                __builtin_memcpy(p + n, &w, 4);
            }
        for (; i < dwords; i++) {
            uint32_t w = REGS->rx_data[0];
            for (unsigned b = 0; b < 4 && n < len; b++, n++, w >>= 8)
                p[n] = (uint8_t)w;
        }
        stats.rx_frames++;
        return (int)len;
    }
}

void lan9118_enable_rx_irq(void)
{
    REGS->int_sts = INT_RSFL;
    REGS->int_en |= INT_RSFL;
    /* The line may have been high (idle-high reset polarity) and left
     * IRQ 13 pending in the NVIC. */
    nvic_clear_pending(IRQ_ETHERNET);
    nvic_enable(IRQ_ETHERNET);
}

int lan9118_rx_pending(void)
{
    return rx_pending;
}

void IRQ13_Handler(void)
{
    uint32_t sts = REGS->int_sts & REGS->int_en;

    /* Acknowledge (write 1 to clear) and read back, so the line has
     * dropped before the exception returns and the NVIC does not see the
     * old level again. */
    REGS->int_sts = sts;
    (void)REGS->int_sts;
    if (sts & INT_RSFL)
        rx_pending = 1;
    stats.rx_irqs++;
}

#endif /* LAN9118_BASE */
