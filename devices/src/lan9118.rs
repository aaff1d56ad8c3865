//! SMSC LAN9118 10/100 Ethernet controller (the MPS2 boards' network port).
//!
//! Reference: SMSC/Microchip LAN9118 datasheet ("System control and status
//! registers", "MAC control and status registers", "PHY registers", "TX/RX
//! data path"); behaviour matched to QEMU `hw/net/lan9118.c` (as in QEMU 7.2,
//! 32-bit bus mode) wherever a guest can observe it.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00..0x1C | RX_DATA_FIFO | RO | received frame data, one dword per read (any offset in the range) |
//! | 0x20..0x3C | TX_DATA_FIFO | WO | TX command A, command B, buffer data (any offset in the range) |
//! | 0x40 | RX_STATUS_FIFO | RO | pop: b30 filter fail, b29:16 length incl. FCS, b13 broadcast, b10 multicast |
//! | 0x44 | RX_STATUS_PEEK | RO | the same without popping |
//! | 0x48 | TX_STATUS_FIFO | RO | pop: b31:16 packet tag from command B |
//! | 0x4C | TX_STATUS_PEEK | RO | the same without popping |
//! | 0x50 | ID_REV | RO | 0x0118_0001 |
//! | 0x54 | IRQ_CFG | RW | b12 IRQ_INT (RO: INT_STS & INT_EN != 0), b8 IRQ_EN, b4 IRQ_POL, b0 IRQ_TYPE |
//! | 0x58 | INT_STS | W1C | interrupt status (bits below) |
//! | 0x5C | INT_EN | RW | interrupt enables; writing b31 sets INT_STS.SW_INT |
//! | 0x64 | BYTE_TEST | RO | 0x8765_4321 |
//! | 0x68 | FIFO_INT | RW | b31:24 TX data avail level, b23:16 TX status level, b7:0 RX status level; reset 0x4800_0000 |
//! | 0x6C | RX_CFG | RW | b31:30 end alignment (4/16/32 bytes), b27:16 DMA count, b15 RX_DUMP (self-clearing), b12:8 data offset in bytes |
//! | 0x70 | TX_CFG | RW | b15 TXS_DUMP, b14 TXD_DUMP (self-clearing), b2 TXSAO, b1 TX_ON, b0 STOP_TX (self-clearing) |
//! | 0x74 | HW_CFG | RW | b21 TTM, b20 SF/MBO, b19:16 TX_FIF_SZ (KiB), b13:12 TR, b2 32-bit mode (RO 1), b0 SRST (self-clearing); reset 0x0005_0004 |
//! | 0x78 | RX_DP_CTRL | RW | b31 RX_FFWD: discard the rest of the current frame (done at once, reads 0) |
//! | 0x7C | RX_FIFO_INF | RO | b23:16 RX status entries, b15:0 RX data bytes used |
//! | 0x80 | TX_FIFO_INF | RO | b23:16 TX status entries, b15:0 TX data bytes free |
//! | 0x84 | PMT_CTRL | RW | b10 PHY_RST (self-clearing), b9,8,6,3,2,1 stored, b0 READY (RO 1) |
//! | 0x88 | GPIO_CFG | RW | LED enables, GPIO config (stored) |
//! | 0x8C | GPT_CFG | RW | b29 TIMER_EN, b15:0 GPT_LOAD; reset 0xFFFF |
//! | 0x90 | GPT_CNT | RO | general purpose timer, 10 kHz down-counter |
//! | 0x98 | WORD_SWAP | RW | stored, no effect in 32-bit mode |
//! | 0x9C | FREE_RUN | RO | 25 MHz free-running counter since reset |
//! | 0xA0 | RX_DROP | RO | frames dropped for lack of FIFO space; cleared by reading |
//! | 0xA4 | MAC_CSR_CMD | RW | b31 busy (reads 0: accesses are instant), b30 read, b7:0 MAC register index |
//! | 0xA8 | MAC_CSR_DATA | RW | data for / from the MAC register access |
//! | 0xAC | AFC_CFG | RW | b23:0 flow control levels (stored) |
//! | 0xB0 | E2P_CMD | RW | b31 busy (reads 0), b30:28 command, b8 MAC address loaded, b6:0 address |
//! | 0xB4 | E2P_DATA | RW | b7:0 EEPROM data |
//!
//! MAC registers through MAC_CSR_CMD/DATA: 1 MAC_CR (reset 0x0004_0000,
//! promiscuous), 2 ADDRH, 3 ADDRL, 4 HASHH, 5 HASHL, 6 MII_ACC (b15:11 PHY,
//! b10:6 register, b1 write, b0 busy reads 0), 7 MII_DATA, 8 FLOW, 9 VLAN1,
//! 10 VLAN2, 11 WUFF, 12 WUCSR. PHY registers through MII_ACC/MII_DATA: 0
//! BMCR, 1 BMSR, 2/3 ID 0x0007/0xC0D1, 4 ANAR, 5 ANLPAR (0x0F71), 6 ANER,
//! 29 interrupt source (clear on read), 30 interrupt mask; others read 0.
//! As in QEMU the PHY answers at every PHY address (the internal PHY is at
//! address 1, the only one drivers use).
//!
//! Interrupt line 0 is the IRQ pin as QEMU drives it: asserted when
//! IRQ_CFG.IRQ_EN is set and INT_STS & INT_EN is non-zero, inverted unless
//! IRQ_CFG selects push-pull (IRQ_TYPE) active-high (IRQ_POL). So with
//! IRQ_CFG at its reset value 0 the line reads high, exactly as QEMU's does;
//! drivers write IRQ_CFG = IRQ_EN | IRQ_POL | IRQ_TYPE before enabling the
//! interrupt.
//!
//! Transmit: the guest writes TX command A (b31 interrupt on completion,
//! b25:24 end alignment, b20:16 data start offset, b13 first segment, b12
//! last segment, b10:0 buffer size), command B (b31:16 tag) and the buffer's
//! dwords, little-endian. A packet is complete at the end of its last
//! segment; it is transmitted at once while TX_CFG.TX_ON and MAC_CR.TXEN are
//! set (otherwise it waits in the TX data FIFO until they are). Sent frames
//! are the exact bytes given (no padding, no FCS) and appear in
//! [`Device::take_frames`]; with PHY loopback (BMCR b14) they are received
//! instead. Each sent packet pushes a TX status word holding its tag.
//!
//! Receive: frames pass the MAC address filter (promiscuous, broadcast unless
//! disabled, multicast pass-all or hash, own address or hash), are stored
//! with RX_CFG's data offset and followed by a 4-byte FCS (as QEMU computes
//! it), and an RX status word counts the FCS in its length. The FIFO sizes
//! follow HW_CFG.TX_FIF_SZ as in the datasheet (5 KiB at reset: TX data
//! 4608 bytes, RX data 10560 bytes, RX status 176 entries; TX status 128
//! entries).
//!
//! Where this model follows the datasheet rather than QEMU (none of it is
//! seen by drivers that work on QEMU, unless noted): the TX end-alignment
//! padding of command A b25:24 is consumed (QEMU computes it from the wrong
//! bits and never expects padding); packets wait for TX_ON/TXEN (QEMU sends
//! regardless); STOP_TX clears TX_ON and raises TXSTOP_INT; RX_FFWD
//! discards the frame's remaining dwords from the FIFO (QEMU's leaves them
//! counted and skews later reads); RX_DUMP also forgets a half-read frame;
//! TX_FIFO_INF counts every dword written, in bytes (QEMU subtracts dwords
//! from a byte size, and skips offset and repeated command B dwords);
//! HW_CFG keeps TX_FIF_SZ, SF, TTM and TR (QEMU's mask keeps only b17:16 of
//! TX_FIF_SZ) and TX_FIF_SZ resizes the FIFOs; the TX status FIFO holds 128
//! entries (QEMU 512); RX_DROP counts frames lost for FIFO space and raises
//! RXDF_INT, and a full RX status FIFO raises RSFF_INT (QEMU: always 0,
//! never); VLAN1/2, WUFF and WUCSR read back (QEMU: 0); empty status FIFOs
//! read 0 (QEMU: a stale entry); IRQ_CFG.IRQ_INT and the pin are recomputed on
//! every change (QEMU skips the update after TX data FIFO writes).

use crate::{zero_extend, Device, Ticks};
use std::collections::VecDeque;

pub const RX_DATA_FIFO: u64 = 0x00;
pub const RX_DATA_FIFO_END: u64 = 0x1f;
pub const TX_DATA_FIFO: u64 = 0x20;
pub const TX_DATA_FIFO_END: u64 = 0x3f;
pub const RX_STATUS_FIFO: u64 = 0x40;
pub const RX_STATUS_PEEK: u64 = 0x44;
pub const TX_STATUS_FIFO: u64 = 0x48;
pub const TX_STATUS_PEEK: u64 = 0x4c;
pub const ID_REV: u64 = 0x50;
pub const IRQ_CFG: u64 = 0x54;
pub const INT_STS: u64 = 0x58;
pub const INT_EN: u64 = 0x5c;
pub const BYTE_TEST: u64 = 0x64;
pub const FIFO_INT: u64 = 0x68;
pub const RX_CFG: u64 = 0x6c;
pub const TX_CFG: u64 = 0x70;
pub const HW_CFG: u64 = 0x74;
pub const RX_DP_CTRL: u64 = 0x78;
pub const RX_FIFO_INF: u64 = 0x7c;
pub const TX_FIFO_INF: u64 = 0x80;
pub const PMT_CTRL: u64 = 0x84;
pub const GPIO_CFG: u64 = 0x88;
pub const GPT_CFG: u64 = 0x8c;
pub const GPT_CNT: u64 = 0x90;
pub const WORD_SWAP: u64 = 0x98;
pub const FREE_RUN: u64 = 0x9c;
pub const RX_DROP: u64 = 0xa0;
pub const MAC_CSR_CMD: u64 = 0xa4;
pub const MAC_CSR_DATA: u64 = 0xa8;
pub const AFC_CFG: u64 = 0xac;
pub const E2P_CMD: u64 = 0xb0;
pub const E2P_DATA: u64 = 0xb4;

/// The registers repeat every 256 bytes within the window (the chip
/// decodes eight address bits; QEMU masks writes the same way).
const REG_SPAN_MASK: u64 = 0xff;

pub const ID_REV_VALUE: u32 = 0x0118_0001;
pub const BYTE_TEST_VALUE: u32 = 0x8765_4321;

pub const IRQ_CFG_IRQ_INT: u32 = 1 << 12;
pub const IRQ_CFG_IRQ_EN: u32 = 1 << 8;
pub const IRQ_CFG_IRQ_POL: u32 = 1 << 4;
pub const IRQ_CFG_IRQ_TYPE: u32 = 1 << 0;
const IRQ_CFG_WRITABLE: u32 = IRQ_CFG_IRQ_EN | IRQ_CFG_IRQ_POL | IRQ_CFG_IRQ_TYPE;

pub const INT_SW: u32 = 1 << 31;
pub const INT_TXSTOP: u32 = 1 << 25;
pub const INT_RXSTOP: u32 = 1 << 24;
pub const INT_RXDFH: u32 = 1 << 23;
pub const INT_TX_IOC: u32 = 1 << 21;
pub const INT_RXD: u32 = 1 << 20;
pub const INT_GPT: u32 = 1 << 19;
pub const INT_PHY: u32 = 1 << 18;
pub const INT_PME: u32 = 1 << 17;
pub const INT_TXSO: u32 = 1 << 16;
pub const INT_RWT: u32 = 1 << 15;
pub const INT_RXE: u32 = 1 << 14;
pub const INT_TXE: u32 = 1 << 13;
pub const INT_TDFU: u32 = 1 << 11;
pub const INT_TDFO: u32 = 1 << 10;
pub const INT_TDFA: u32 = 1 << 9;
pub const INT_TSFF: u32 = 1 << 8;
pub const INT_TSFL: u32 = 1 << 7;
pub const INT_RXDF: u32 = 1 << 6;
pub const INT_RDFL: u32 = 1 << 5;
pub const INT_RSFF: u32 = 1 << 4;
pub const INT_RSFL: u32 = 1 << 3;
/// INT_EN bits that do not exist and never read back (as QEMU).
const INT_RESERVED: u32 = 0x7c00_1000;

const FIFO_INT_RESET: u32 = 0x4800_0000;

pub const RX_CFG_END_ALIGN_SHIFT: u32 = 30;
pub const RX_CFG_RX_DUMP: u32 = 1 << 15;
pub const RX_CFG_RXDOFF_SHIFT: u32 = 8;
const RX_CFG_WRITABLE: u32 = 0xcfff_1ff0;

pub const TX_CFG_TXS_DUMP: u32 = 1 << 15;
pub const TX_CFG_TXD_DUMP: u32 = 1 << 14;
pub const TX_CFG_TXSAO: u32 = 1 << 2;
pub const TX_CFG_TX_ON: u32 = 1 << 1;
pub const TX_CFG_STOP_TX: u32 = 1 << 0;

pub const HW_CFG_SRST: u32 = 1 << 0;
pub const HW_CFG_32BIT: u32 = 1 << 2;
pub const HW_CFG_TX_FIF_SZ_SHIFT: u32 = 16;
/// TTM, SF, TX_FIF_SZ and TR: the fields that read back.
const HW_CFG_WRITABLE: u32 = 0x003f_3000;
const HW_CFG_RESET: u32 = (5 << HW_CFG_TX_FIF_SZ_SHIFT) | HW_CFG_32BIT;

pub const RX_DP_CTRL_RX_FFWD: u32 = 1 << 31;

pub const PMT_CTRL_READY: u32 = 1 << 0;
pub const PMT_CTRL_PHY_RST: u32 = 1 << 10;
const PMT_CTRL_WRITABLE: u32 = 0x34e;
/// Bits kept across a soft reset (READY, PME_POL, PME_TYPE).
const PMT_CTRL_KEPT: u32 = 0x45;

const GPIO_CFG_WRITABLE: u32 = 0x7777_071f;

pub const GPT_CFG_TIMER_EN: u32 = 1 << 29;
const GPT_CFG_LOAD: u32 = 0xffff;
/// The general purpose timer counts at 10 kHz (100 us).
const GPT_HZ: u64 = 10_000;
/// After reaching zero the timer continues from 0xFFFF.
const GPT_WRAP: u64 = 0xffff;

/// FREE_RUN counts at 25 MHz.
const FREE_RUN_HZ: u64 = 25_000_000;

pub const MAC_CSR_CMD_BUSY: u32 = 1 << 31;
pub const MAC_CSR_CMD_READ: u32 = 1 << 30;
const MAC_CSR_CMD_INDEX: u32 = 0xff;

const AFC_CFG_WRITABLE: u32 = 0x00ff_ffff;

pub const E2P_CMD_BUSY: u32 = 1 << 31;
pub const E2P_CMD_SHIFT: u32 = 28;
pub const E2P_CMD_MAC_LOADED: u32 = 1 << 8;
const E2P_ADDR: u32 = 0x7f;
const E2P_CMD_READ: u32 = 0;
const E2P_CMD_EWDS: u32 = 1;
const E2P_CMD_EWEN: u32 = 2;
const E2P_CMD_WRITE: u32 = 3;
const E2P_CMD_WRAL: u32 = 4;
const E2P_CMD_ERASE: u32 = 5;
const E2P_CMD_ERAL: u32 = 6;
const E2P_CMD_RELOAD: u32 = 7;
/// First EEPROM byte of a valid configuration; the MAC address follows.
const EEPROM_SIGNATURE: u8 = 0xa5;
const EEPROM_SIZE: usize = 128;

// MAC CSR indices.
pub const MAC_CR: u32 = 1;
pub const MAC_ADDRH: u32 = 2;
pub const MAC_ADDRL: u32 = 3;
pub const MAC_HASHH: u32 = 4;
pub const MAC_HASHL: u32 = 5;
pub const MAC_MII_ACC: u32 = 6;
pub const MAC_MII_DATA: u32 = 7;
pub const MAC_FLOW: u32 = 8;
pub const MAC_VLAN1: u32 = 9;
pub const MAC_VLAN2: u32 = 10;
pub const MAC_WUFF: u32 = 11;
pub const MAC_WUCSR: u32 = 12;

pub const MAC_CR_RXALL: u32 = 1 << 31;
pub const MAC_CR_MCPAS: u32 = 1 << 19;
pub const MAC_CR_PRMS: u32 = 1 << 18;
pub const MAC_CR_INVFILT: u32 = 1 << 17;
pub const MAC_CR_HO: u32 = 1 << 15;
pub const MAC_CR_HPFILT: u32 = 1 << 13;
pub const MAC_CR_BCAST: u32 = 1 << 11;
pub const MAC_CR_TXEN: u32 = 1 << 3;
pub const MAC_CR_RXEN: u32 = 1 << 2;
/// MAC_CR bits that do not read back (as QEMU, which includes HBDIS here).
const MAC_CR_RESERVED: u32 = 0x7f40_4213;

pub const MII_ACC_BUSY: u32 = 1 << 0;
pub const MII_ACC_WRITE: u32 = 1 << 1;
pub const MII_ACC_REG_SHIFT: u32 = 6;
pub const MII_ACC_PHY_SHIFT: u32 = 11;
const MII_ACC_KEPT: u32 = 0xffc2;

const FLOW_WRITABLE: u32 = 0xffff_0000;
const VLAN_WRITABLE: u32 = 0xffff;
const WUCSR_WRITABLE: u32 = 0x0000_0206;
const WUFF_WORDS: usize = 5;

// PHY registers.
pub const PHY_BMCR: u32 = 0;
pub const PHY_BMSR: u32 = 1;
pub const PHY_ID1: u32 = 2;
pub const PHY_ID2: u32 = 3;
pub const PHY_ANAR: u32 = 4;
pub const PHY_ANLPAR: u32 = 5;
pub const PHY_ANER: u32 = 6;
pub const PHY_INT_SRC: u32 = 29;
pub const PHY_INT_MASK: u32 = 30;

pub const PHY_ID1_VALUE: u32 = 0x0007;
pub const PHY_ID2_VALUE: u32 = 0xc0d1;
const PHY_ANLPAR_VALUE: u32 = 0x0f71;
const PHY_ANER_VALUE: u32 = 0x0001;

pub const BMCR_RESET: u32 = 1 << 15;
pub const BMCR_LOOPBACK: u32 = 1 << 14;
pub const BMCR_ANENABLE: u32 = 1 << 12;
const BMCR_WRITABLE: u32 = 0x7980;
const BMCR_RESET_VALUE: u32 = 0x3000;

pub const BMSR_LINK: u32 = 1 << 2;
pub const BMSR_ANEG_COMPLETE: u32 = 1 << 5;
const BMSR_RESET_VALUE: u32 = 0x7809;

const ANAR_WRITABLE: u32 = 0x2d7f;
/// 100BASE-TX half duplex is always advertised.
const ANAR_FIXED: u32 = 0x0080;
const ANAR_RESET_VALUE: u32 = 0x01e1;

pub const PHY_INT_ENERGYON: u32 = 1 << 7;
pub const PHY_INT_ANEG_COMPLETE: u32 = 1 << 6;
pub const PHY_INT_LINK_DOWN: u32 = 1 << 4;
const PHY_INT_MASK_WRITABLE: u32 = 0xff;

// TX command words.
pub const TX_CMD_A_IOC: u32 = 1 << 31;
pub const TX_CMD_A_END_ALIGN_SHIFT: u32 = 24;
pub const TX_CMD_A_OFFSET_SHIFT: u32 = 16;
pub const TX_CMD_A_FIRST_SEG: u32 = 1 << 13;
pub const TX_CMD_A_LAST_SEG: u32 = 1 << 12;
pub const TX_CMD_A_BUF_SIZE: u32 = 0x7ff;
const TX_CMD_A_KEPT: u32 = 0x831f_37ff;
pub const TX_CMD_B_TAG: u32 = 0xffff_0000;

// RX status word.
pub const RX_STS_FILTER_FAIL: u32 = 1 << 30;
pub const RX_STS_LENGTH_SHIFT: u32 = 16;
pub const RX_STS_BROADCAST: u32 = 1 << 13;
pub const RX_STS_MULTICAST: u32 = 1 << 10;

/// Frames of this many bytes or more are neither received nor sent whole
/// (QEMU's frame buffer size).
const MAX_FRAME: usize = 2048;
/// Shorter frames than a bare Ethernet header are not received.
const MIN_FRAME: usize = 14;
const FCS_LEN: usize = 4;
/// The TX status FIFO is 512 bytes whatever TX_FIF_SZ says.
const TX_STATUS_ENTRIES: usize = 128;

/// The interrupt output line.
pub const LINE_IRQ: u32 = 1 << 0;

#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TxState {
    /// Waiting for command A.
    #[default]
    CmdA,
    /// Waiting for command B.
    CmdB,
    /// Taking the buffer's offset, data and end padding dwords.
    Data,
}

/// The packet being written into the TX data FIFO.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct TxAssembly {
    state: TxState,
    cmd_a: u32,
    cmd_b: u32,
    /// Bytes of the current buffer still to come.
    remaining: u32,
    /// Bytes to skip before the current buffer's data.
    offset: u32,
    /// Dwords of end-alignment padding still to come.
    pad: u32,
    frame: Vec<u8>,
    /// Dwords this packet occupies in the TX data FIFO so far.
    dwords: u32,
}

/// A complete packet waiting for the transmitter.
#[derive(serde::Serialize, serde::Deserialize)]
struct TxPacket {
    frame: Vec<u8>,
    tag: u32,
    dwords: u32,
}

/// Where the guest is in reading the frame at the head of the RX data FIFO.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Default)]
struct RxCursor {
    /// Zero dwords still to return before the data (RX_CFG offset / 4).
    offset: u32,
    /// Data dwords of the frame still in the FIFO.
    dwords: u32,
    /// Zero dwords of end alignment still to return after the data.
    pad: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Lan9118 {
    clock_hz: u64,
    /// The address the EEPROM holds at power-on.
    factory_mac: [u8; 6],
    link_up: bool,
    now: Ticks,

    irq_cfg: u32,
    int_sts: u32,
    int_en: u32,
    fifo_int: u32,
    rx_cfg: u32,
    tx_cfg: u32,
    hw_cfg: u32,
    pmt_ctrl: u32,
    gpio_cfg: u32,
    word_swap: u32,
    free_run_base: Ticks,
    rx_drop: u32,
    mac_csr_cmd: u32,
    mac_csr_data: u32,
    afc_cfg: u32,
    e2p_cmd: u32,
    e2p_data: u32,
    #[serde(with = "crate::big_array")]
    eeprom: [u8; EEPROM_SIZE],
    eeprom_writable: bool,

    mac: [u8; 6],
    mac_cr: u32,
    hashh: u32,
    hashl: u32,
    mii_acc: u32,
    mii_data: u32,
    flow: u32,
    vlan1: u32,
    vlan2: u32,
    wuff: [u32; WUFF_WORDS],
    wuff_index: usize,
    wucsr: u32,

    bmcr: u32,
    bmsr: u32,
    anar: u32,
    phy_int_src: u32,
    phy_int_mask: u32,

    gpt_cfg: u32,
    /// Tick at which the running timer was loaded with `gpt_load`.
    gpt_start: Ticks,
    gpt_load: u64,
    /// Expiries of the running timer already accounted for.
    gpt_expiries: u64,

    tx: TxAssembly,
    tx_queue: VecDeque<TxPacket>,
    tx_status: VecDeque<u32>,
    sent: Vec<Vec<u8>>,

    rx_data: VecDeque<u32>,
    /// Dwords each frame in `rx_data` occupies, in order.
    rx_sizes: VecDeque<u32>,
    rx_status: VecDeque<u32>,
    rx_cursor: RxCursor,
}

impl Lan9118 {
    /// `mac` is the address the (emulated) EEPROM supplies, loaded into
    /// ADDRH/ADDRL at every reset; `clock_hz` is the machine clock the
    /// tick count runs at (25 MHz on MPS2).
    pub fn new(mac: [u8; 6], clock_hz: u64) -> Self {
        let mut s = Lan9118 {
            clock_hz: clock_hz.max(1),
            factory_mac: mac,
            link_up: true,
            now: 0,
            irq_cfg: 0,
            int_sts: 0,
            int_en: 0,
            fifo_int: 0,
            rx_cfg: 0,
            tx_cfg: 0,
            hw_cfg: 0,
            pmt_ctrl: 0,
            gpio_cfg: 0,
            word_swap: 0,
            free_run_base: 0,
            rx_drop: 0,
            mac_csr_cmd: 0,
            mac_csr_data: 0,
            afc_cfg: 0,
            e2p_cmd: 0,
            e2p_data: 0,
            eeprom: [0; EEPROM_SIZE],
            eeprom_writable: false,
            mac,
            mac_cr: 0,
            hashh: 0,
            hashl: 0,
            mii_acc: 0,
            mii_data: 0,
            flow: 0,
            vlan1: 0,
            vlan2: 0,
            wuff: [0; WUFF_WORDS],
            wuff_index: 0,
            wucsr: 0,
            bmcr: 0,
            bmsr: 0,
            anar: 0,
            phy_int_src: 0,
            phy_int_mask: 0,
            gpt_cfg: 0,
            gpt_start: 0,
            gpt_load: 0,
            gpt_expiries: 0,
            tx: TxAssembly::default(),
            tx_queue: VecDeque::new(),
            tx_status: VecDeque::new(),
            sent: Vec::new(),
            rx_data: VecDeque::new(),
            rx_sizes: VecDeque::new(),
            rx_status: VecDeque::new(),
            rx_cursor: RxCursor::default(),
        };
        s.power_on();
        s
    }

    /// The station address currently in ADDRH/ADDRL.
    pub fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn power_on(&mut self) {
        self.irq_cfg = 0;
        self.pmt_ctrl = PMT_CTRL_READY;
        self.word_swap = 0;
        self.rx_drop = 0;
        self.eeprom = [0; EEPROM_SIZE];
        self.eeprom[0] = EEPROM_SIGNATURE;
        self.eeprom[1..7].copy_from_slice(&self.factory_mac);
        self.vlan1 = 0;
        self.vlan2 = 0;
        self.wuff = [0; WUFF_WORDS];
        self.wuff_index = 0;
        self.wucsr = 0;
        self.soft_reset();
    }

    /// HW_CFG.SRST: what QEMU's reset does. The EEPROM, WORD_SWAP and the
    /// IRQ pin configuration survive it; the MAC address is reloaded.
    fn soft_reset(&mut self) {
        self.irq_cfg &= IRQ_CFG_IRQ_TYPE | IRQ_CFG_IRQ_POL;
        self.int_sts = 0;
        self.int_en = 0;
        self.fifo_int = FIFO_INT_RESET;
        self.rx_cfg = 0;
        self.tx_cfg = 0;
        self.hw_cfg = HW_CFG_RESET;
        self.pmt_ctrl &= PMT_CTRL_KEPT;
        self.gpio_cfg = 0;
        self.free_run_base = self.now;
        self.mac_csr_cmd = 0;
        self.mac_csr_data = 0;
        self.afc_cfg = 0;
        self.e2p_cmd = 0;
        self.e2p_data = 0;
        self.eeprom_writable = false;

        self.gpt_cfg = GPT_CFG_LOAD;
        self.gpt_expiries = 0;

        self.mac_cr = MAC_CR_PRMS;
        self.hashh = 0;
        self.hashl = 0;
        self.mii_acc = 0;
        self.mii_data = 0;
        self.flow = 0;

        self.tx = TxAssembly::default();
        self.tx_queue.clear();
        self.tx_status.clear();
        self.rx_dump();

        self.phy_reset();
        self.eeprom_reload();
    }

    // ---- interrupts ----

    fn irq_pending(&self) -> bool {
        self.int_sts & self.int_en != 0
    }

    // ---- FIFO geometry ----

    /// TX_FIF_SZ in KiB, limited to the datasheet's 2..=14.
    fn tx_fifo_kib(&self) -> u32 {
        ((self.hw_cfg >> HW_CFG_TX_FIF_SZ_SHIFT) & 0xf).clamp(2, 14)
    }

    /// TX data FIFO size in bytes (TX_FIF_SZ less the 512-byte status FIFO).
    fn tx_data_capacity(&self) -> u32 {
        self.tx_fifo_kib() * 1024 - 512
    }

    /// RX data FIFO size in dwords: 15/16 of what TX leaves of 16 KiB.
    fn rx_data_capacity(&self) -> usize {
        ((16 - self.tx_fifo_kib()) * 960 / 4) as usize
    }

    /// RX status FIFO entries: the other 1/16.
    fn rx_status_capacity(&self) -> usize {
        ((16 - self.tx_fifo_kib()) * 16) as usize
    }

    fn tx_used_bytes(&self) -> u32 {
        let queued: u32 = self.tx_queue.iter().map(|p| p.dwords).sum();
        (self.tx.dwords + queued) * 4
    }

    // ---- time ----

    fn sync(&mut self, now: Ticks) {
        self.now = self.now.max(now);
        self.gpt_catch_up();
    }

    fn gpt_running(&self) -> bool {
        self.gpt_cfg & GPT_CFG_TIMER_EN != 0
    }

    /// Time since the timer was loaded, in units of 1/GPT_HZ of a tick, so
    /// that one count lasts `clock_hz` units.
    fn gpt_units(&self, now: Ticks) -> u128 {
        now.saturating_sub(self.gpt_start) as u128 * GPT_HZ as u128
    }

    /// How many times the running timer has reached zero by `now`. It
    /// reaches zero `gpt_load` counts after being loaded (at once for a load
    /// of 0) and then every 0xFFFF counts.
    fn gpt_expiries_at(&self, now: Ticks) -> u64 {
        let period = self.clock_hz as u128;
        let u = self.gpt_units(now);
        let first = self.gpt_load as u128 * period;
        if u < first {
            0
        } else {
            ((u - first) / (GPT_WRAP as u128 * period)) as u64 + 1
        }
    }

    /// GPT_CNT at `now`: QEMU's ptimer reading, which drops to `load - 1`
    /// as soon as time passes after a load and holds 0 for the last count
    /// before each expiry.
    fn gpt_count(&self, now: Ticks) -> u32 {
        if !self.gpt_running() {
            return GPT_WRAP as u32;
        }
        let period = self.clock_hz as u128;
        let u = self.gpt_units(now);
        let first = self.gpt_load as u128 * period;
        let (base, since) = if u < first {
            (self.gpt_load as u128, u)
        } else {
            (GPT_WRAP as u128, (u - first) % (GPT_WRAP as u128 * period))
        };
        (base - since.div_ceil(period)) as u32
    }

    /// The tick of expiry number `n` (0-based) of the running timer.
    fn gpt_expiry_tick(&self, n: u64) -> Ticks {
        let period = self.clock_hz as u128;
        let units = (self.gpt_load as u128 + n as u128 * GPT_WRAP as u128) * period;
        self.gpt_start + units.div_ceil(GPT_HZ as u128) as Ticks
    }

    /// As QEMU: an expiry sets GPT_INT only if it is enabled at the time.
    fn gpt_catch_up(&mut self) {
        if !self.gpt_running() {
            return;
        }
        let expiries = self.gpt_expiries_at(self.now);
        if expiries > self.gpt_expiries {
            if self.int_en & INT_GPT != 0 {
                self.int_sts |= INT_GPT;
            }
            self.gpt_expiries = expiries;
        }
    }

    fn write_gpt_cfg(&mut self, value: u32) {
        if (self.gpt_cfg ^ value) & GPT_CFG_TIMER_EN != 0 && value & GPT_CFG_TIMER_EN != 0 {
            self.gpt_start = self.now;
            self.gpt_load = (value & GPT_CFG_LOAD) as u64;
            self.gpt_expiries = 0;
        }
        self.gpt_cfg = value & (GPT_CFG_TIMER_EN | GPT_CFG_LOAD);
        self.gpt_catch_up();
    }

    fn free_run(&self) -> u32 {
        let scale = |t: Ticks| t as u128 * FREE_RUN_HZ as u128 / self.clock_hz as u128;
        scale(self.now).wrapping_sub(scale(self.free_run_base)) as u32
    }

    // ---- PHY ----

    fn phy_update_irq(&mut self) {
        if self.phy_int_src & self.phy_int_mask != 0 {
            self.int_sts |= INT_PHY;
        } else {
            self.int_sts &= !INT_PHY;
        }
    }

    /// Link and autonegotiation status follow the cable; every call records
    /// the current state as a PHY interrupt source, as QEMU's does.
    fn phy_update_link(&mut self) {
        if self.link_up {
            self.bmsr |= BMSR_LINK | BMSR_ANEG_COMPLETE;
            self.phy_int_src |= PHY_INT_ENERGYON | PHY_INT_ANEG_COMPLETE;
        } else {
            self.bmsr &= !(BMSR_LINK | BMSR_ANEG_COMPLETE);
            self.phy_int_src |= PHY_INT_LINK_DOWN;
        }
        self.phy_update_irq();
    }

    fn phy_reset(&mut self) {
        self.bmsr = BMSR_RESET_VALUE;
        self.bmcr = BMCR_RESET_VALUE;
        self.anar = ANAR_RESET_VALUE;
        self.phy_int_mask = 0;
        self.phy_int_src = 0;
        self.phy_update_link();
    }

    fn phy_read(&mut self, reg: u32) -> u32 {
        match reg {
            PHY_BMCR => self.bmcr,
            PHY_BMSR => self.bmsr,
            PHY_ID1 => PHY_ID1_VALUE,
            PHY_ID2 => PHY_ID2_VALUE,
            PHY_ANAR => self.anar,
            PHY_ANLPAR => PHY_ANLPAR_VALUE,
            PHY_ANER => PHY_ANER_VALUE,
            PHY_INT_SRC => {
                let value = self.phy_int_src;
                self.phy_int_src = 0;
                self.phy_update_irq();
                value
            }
            PHY_INT_MASK => self.phy_int_mask,
            _ => 0,
        }
    }

    fn phy_write(&mut self, reg: u32, value: u32) {
        match reg {
            PHY_BMCR => {
                if value & BMCR_RESET != 0 {
                    self.phy_reset();
                    return;
                }
                self.bmcr = value & BMCR_WRITABLE;
                // Autonegotiation completes at once.
                if value & BMCR_ANENABLE != 0 {
                    self.bmsr |= BMSR_ANEG_COMPLETE;
                }
            }
            PHY_ANAR => self.anar = (value & ANAR_WRITABLE) | ANAR_FIXED,
            PHY_INT_MASK => {
                self.phy_int_mask = value & PHY_INT_MASK_WRITABLE;
                self.phy_update_irq();
            }
            _ => {}
        }
    }

    // ---- MAC CSRs ----

    fn mac_read(&mut self, index: u32) -> u32 {
        let m = self.mac;
        match index {
            MAC_CR => self.mac_cr,
            MAC_ADDRH => u32::from_le_bytes([m[4], m[5], 0, 0]),
            MAC_ADDRL => u32::from_le_bytes([m[0], m[1], m[2], m[3]]),
            MAC_HASHH => self.hashh,
            MAC_HASHL => self.hashl,
            MAC_MII_ACC => self.mii_acc,
            MAC_MII_DATA => self.mii_data,
            MAC_FLOW => self.flow,
            MAC_VLAN1 => self.vlan1,
            MAC_VLAN2 => self.vlan2,
            MAC_WUFF => {
                let value = self.wuff[self.wuff_index];
                self.wuff_index = (self.wuff_index + 1) % WUFF_WORDS;
                value
            }
            MAC_WUCSR => self.wucsr,
            _ => 0,
        }
    }

    fn mac_write(&mut self, index: u32, value: u32) {
        match index {
            MAC_CR => {
                if self.mac_cr & MAC_CR_RXEN != 0 && value & MAC_CR_RXEN == 0 {
                    self.int_sts |= INT_RXSTOP;
                }
                self.mac_cr = value & !MAC_CR_RESERVED;
                self.tx_pump();
            }
            MAC_ADDRH => {
                self.mac[4] = value as u8;
                self.mac[5] = (value >> 8) as u8;
            }
            MAC_ADDRL => self.mac[..4].copy_from_slice(&value.to_le_bytes()),
            MAC_HASHH => self.hashh = value,
            MAC_HASHL => self.hashl = value,
            MAC_MII_ACC => {
                // The access happens at once (whatever the busy bit says,
                // as QEMU), so MIIBZY always reads 0. The PHY answers at
                // any address.
                self.mii_acc = value & MII_ACC_KEPT;
                let reg = (value >> MII_ACC_REG_SHIFT) & 0x1f;
                if value & MII_ACC_WRITE != 0 {
                    self.phy_write(reg, self.mii_data);
                } else {
                    self.mii_data = self.phy_read(reg);
                }
            }
            MAC_MII_DATA => self.mii_data = value & 0xffff,
            MAC_FLOW => self.flow = value & FLOW_WRITABLE,
            MAC_VLAN1 => self.vlan1 = value & VLAN_WRITABLE,
            MAC_VLAN2 => self.vlan2 = value & VLAN_WRITABLE,
            MAC_WUFF => {
                self.wuff[self.wuff_index] = value;
                self.wuff_index = (self.wuff_index + 1) % WUFF_WORDS;
            }
            MAC_WUCSR => self.wucsr = value & WUCSR_WRITABLE,
            _ => {}
        }
    }

    fn write_mac_csr_cmd(&mut self, value: u32) {
        self.mac_csr_cmd = value & (MAC_CSR_CMD_READ | MAC_CSR_CMD_INDEX);
        if value & MAC_CSR_CMD_BUSY == 0 {
            return;
        }
        let index = value & MAC_CSR_CMD_INDEX;
        if value & MAC_CSR_CMD_READ != 0 {
            self.mac_csr_data = self.mac_read(index);
        } else {
            self.mac_write(index, self.mac_csr_data);
        }
    }

    // ---- EEPROM ----

    fn eeprom_reload(&mut self) {
        if self.eeprom[0] != EEPROM_SIGNATURE {
            self.e2p_cmd &= !E2P_CMD_MAC_LOADED;
            return;
        }
        self.mac.copy_from_slice(&self.eeprom[1..7]);
        self.e2p_cmd |= E2P_CMD_MAC_LOADED;
    }

    /// Every command completes at once. Writes can only clear bits, as
    /// QEMU models them.
    fn eeprom_command(&mut self, value: u32) {
        let cmd = (value >> E2P_CMD_SHIFT) & 7;
        let addr = (value & E2P_ADDR) as usize;
        self.e2p_cmd = (self.e2p_cmd & E2P_CMD_MAC_LOADED) | (cmd << E2P_CMD_SHIFT) | addr as u32;
        let data = self.e2p_data as u8;
        match cmd {
            E2P_CMD_READ => self.e2p_data = self.eeprom[addr] as u32,
            E2P_CMD_EWDS => self.eeprom_writable = false,
            E2P_CMD_EWEN => self.eeprom_writable = true,
            E2P_CMD_WRITE if self.eeprom_writable => self.eeprom[addr] &= data,
            E2P_CMD_WRAL if self.eeprom_writable => self.eeprom.iter_mut().for_each(|b| *b &= data),
            E2P_CMD_ERASE if self.eeprom_writable => self.eeprom[addr] = 0xff,
            E2P_CMD_ERAL if self.eeprom_writable => self.eeprom = [0xff; EEPROM_SIZE],
            E2P_CMD_RELOAD => self.eeprom_reload(),
            _ => {}
        }
    }

    // ---- transmit ----

    fn tx_push(&mut self, word: u32) {
        if self.tx_used_bytes() + 4 > self.tx_data_capacity() {
            self.int_sts |= INT_TDFO;
            return;
        }
        let t = &mut self.tx;
        t.dwords += 1;
        match t.state {
            TxState::CmdA => {
                t.cmd_a = word & TX_CMD_A_KEPT;
                t.remaining = t.cmd_a & TX_CMD_A_BUF_SIZE;
                t.offset = (t.cmd_a >> TX_CMD_A_OFFSET_SHIFT) & 0x1f;
                // End alignment counts the offset and data, not the commands.
                let dwords = (t.remaining + t.offset).div_ceil(4);
                t.pad = match (t.cmd_a >> TX_CMD_A_END_ALIGN_SHIFT) & 3 {
                    1 => dwords.wrapping_neg() & 3,
                    2 => dwords.wrapping_neg() & 7,
                    _ => 0,
                };
                t.state = TxState::CmdB;
            }
            TxState::CmdB => {
                // Command B of later segments repeats the first one's.
                if t.cmd_a & TX_CMD_A_FIRST_SEG != 0 {
                    t.cmd_b = word;
                    t.frame.clear();
                }
                t.state = TxState::Data;
            }
            TxState::Data => {
                if t.offset >= 4 {
                    t.offset -= 4;
                    return;
                }
                if t.remaining == 0 && t.pad > 0 {
                    t.pad -= 1;
                } else {
                    let skip = t.offset as usize;
                    let take = (t.remaining + t.offset).min(4) as usize - skip;
                    let room = MAX_FRAME.saturating_sub(t.frame.len()).min(take);
                    t.frame
                        .extend_from_slice(&word.to_le_bytes()[skip..skip + room]);
                    t.remaining -= take as u32;
                    t.offset = 0;
                }
                if t.remaining == 0 && t.pad == 0 {
                    self.tx_buffer_done();
                }
            }
        }
    }

    fn tx_buffer_done(&mut self) {
        let t = &mut self.tx;
        t.state = TxState::CmdA;
        let cmd_a = t.cmd_a;
        if cmd_a & TX_CMD_A_LAST_SEG != 0 {
            let packet = TxPacket {
                frame: std::mem::take(&mut t.frame),
                tag: t.cmd_b & TX_CMD_B_TAG,
                dwords: std::mem::take(&mut t.dwords),
            };
            self.tx_queue.push_back(packet);
            self.tx_pump();
        }
        if cmd_a & TX_CMD_A_IOC != 0 {
            self.int_sts |= INT_TX_IOC;
        }
    }

    fn tx_enabled(&self) -> bool {
        self.tx_cfg & TX_CFG_TX_ON != 0 && self.mac_cr & MAC_CR_TXEN != 0
    }

    /// Send every complete packet while the transmitter is on.
    fn tx_pump(&mut self) {
        while self.tx_enabled() {
            let Some(packet) = self.tx_queue.pop_front() else {
                break;
            };
            self.transmit(packet);
        }
    }

    fn transmit(&mut self, packet: TxPacket) {
        if self.bmcr & BMCR_LOOPBACK != 0 {
            self.receive(&packet.frame);
        } else if self.link_up {
            self.sent.push(packet.frame);
        }
        // A full status FIFO loses the status; transmission goes on.
        if self.tx_status.len() >= TX_STATUS_ENTRIES {
            return;
        }
        self.tx_status.push_back(packet.tag);
        let used = self.tx_status.len() as u32;
        if used > (self.fifo_int >> 16) & 0xff {
            self.int_sts |= INT_TSFL;
        }
        if self.tx_status.len() == TX_STATUS_ENTRIES {
            self.int_sts |= INT_TSFF;
        }
    }

    fn write_tx_cfg(&mut self, value: u32) {
        if value & TX_CFG_TXS_DUMP != 0 {
            self.tx_status.clear();
        }
        if value & TX_CFG_TXD_DUMP != 0 {
            self.tx = TxAssembly::default();
            self.tx_queue.clear();
        }
        self.tx_cfg = value & (TX_CFG_TXSAO | TX_CFG_TX_ON);
        if value & TX_CFG_STOP_TX != 0 {
            // Nothing is ever mid-frame, so the transmitter stops at once.
            self.tx_cfg &= !TX_CFG_TX_ON;
            self.int_sts |= INT_TXSTOP;
        }
        self.tx_pump();
    }

    // ---- receive ----

    fn filter(&self, dest: &[u8]) -> bool {
        let cr = self.mac_cr;
        if cr & MAC_CR_PRMS != 0 {
            return true;
        }
        if dest == [0xff; 6] {
            return cr & MAC_CR_BCAST == 0;
        }
        let multicast = dest[0] & 1 != 0;
        if multicast && cr & MAC_CR_MCPAS != 0 {
            return true;
        }
        let hashed = if multicast {
            cr & MAC_CR_HPFILT != 0
        } else {
            cr & MAC_CR_HO != 0
        };
        if hashed {
            let bit = mac_hash(dest);
            let table = if bit & 0x20 != 0 {
                self.hashh
            } else {
                self.hashl
            };
            (table >> (bit & 0x1f)) & 1 != 0
        } else {
            (dest == self.mac) != (cr & MAC_CR_INVFILT != 0)
        }
    }

    fn count_drop(&mut self) {
        self.rx_drop = self.rx_drop.saturating_add(1);
        self.int_sts |= INT_RXDF;
        if self.rx_drop == 0x8000_0000 {
            self.int_sts |= INT_RXDFH;
        }
    }

    /// The MAC receiving a frame (from the wire or PHY loopback).
    fn receive(&mut self, frame: &[u8]) -> bool {
        if self.mac_cr & MAC_CR_RXEN == 0 {
            return false;
        }
        if frame.len() >= MAX_FRAME || frame.len() < MIN_FRAME {
            return false;
        }
        if self.rx_status.len() >= self.rx_status_capacity() {
            self.count_drop();
            return false;
        }
        let dest = &frame[..6];
        let pass = self.filter(dest);
        if !pass && self.mac_cr & MAC_CR_RXALL == 0 {
            return false;
        }
        // Bytes of RX_CFG's offset below a dword come before the data in
        // the FIFO; whole dwords of it are produced when the frame is read.
        let lead = ((self.rx_cfg >> RX_CFG_RXDOFF_SHIFT) & 3) as usize;
        let dwords = (lead + frame.len() + FCS_LEN).div_ceil(4);
        if self.rx_data_capacity().saturating_sub(self.rx_data.len()) < dwords {
            self.count_drop();
            return false;
        }
        let mut bytes = Vec::with_capacity(dwords * 4);
        bytes.resize(lead, 0);
        bytes.extend_from_slice(frame);
        bytes.extend_from_slice(&qemu_fcs(frame).to_le_bytes());
        bytes.resize(dwords * 4, 0);
        self.rx_data.extend(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        self.rx_sizes.push_back(dwords as u32);

        let mut status = ((frame.len() + FCS_LEN) as u32) << RX_STS_LENGTH_SHIFT;
        if dest == [0xff; 6] {
            status |= RX_STS_BROADCAST;
        } else if dest[0] & 1 != 0 {
            status |= RX_STS_MULTICAST;
        }
        if !pass {
            status |= RX_STS_FILTER_FAIL;
        }
        self.rx_status.push_back(status);
        if self.rx_status.len() as u32 > self.fifo_int & 0xff {
            self.int_sts |= INT_RSFL;
        }
        if self.rx_status.len() >= self.rx_status_capacity() {
            self.int_sts |= INT_RSFF;
        }
        true
    }

    /// Begin the next frame if none is being read: RX_CFG's whole-dword
    /// offset and end alignment apply as it is started.
    fn rx_start_frame(&mut self) {
        let c = self.rx_cursor;
        if c.dwords != 0 || c.pad != 0 {
            return;
        }
        let Some(dwords) = self.rx_sizes.pop_front() else {
            return;
        };
        let offset = (self.rx_cfg >> (RX_CFG_RXDOFF_SHIFT + 2)) & 7;
        let total = offset + dwords;
        let pad = match self.rx_cfg >> RX_CFG_END_ALIGN_SHIFT {
            1 => total.wrapping_neg() & 3,
            2 => total.wrapping_neg() & 7,
            _ => 0,
        };
        self.rx_cursor = RxCursor {
            offset,
            dwords,
            pad,
        };
    }

    fn rx_pop(&mut self) -> u32 {
        self.rx_start_frame();
        let c = &mut self.rx_cursor;
        if c.offset > 0 {
            c.offset -= 1;
            0
        } else if c.dwords > 0 {
            c.dwords -= 1;
            self.rx_data.pop_front().unwrap_or(0)
        } else if c.pad > 0 {
            c.pad -= 1;
            0
        } else {
            self.int_sts |= INT_RXE;
            0
        }
    }

    /// RX_FFWD: discard what is left of the frame being read, or of the
    /// next frame if none has been started.
    fn rx_fast_forward(&mut self) {
        self.rx_start_frame();
        let n = (self.rx_cursor.dwords as usize).min(self.rx_data.len());
        self.rx_data.drain(..n);
        self.rx_cursor = RxCursor::default();
    }

    fn rx_dump(&mut self) {
        self.rx_data.clear();
        self.rx_sizes.clear();
        self.rx_status.clear();
        self.rx_cursor = RxCursor::default();
    }

    // ---- register file ----

    fn read_reg(&mut self, offset: u64) -> u32 {
        match offset {
            RX_STATUS_FIFO => self.rx_status.pop_front().unwrap_or(0),
            RX_STATUS_PEEK => self.rx_status.front().copied().unwrap_or(0),
            TX_STATUS_FIFO => self.tx_status.pop_front().unwrap_or(0),
            TX_STATUS_PEEK => self.tx_status.front().copied().unwrap_or(0),
            ID_REV => ID_REV_VALUE,
            IRQ_CFG => {
                let int = if self.irq_pending() {
                    IRQ_CFG_IRQ_INT
                } else {
                    0
                };
                self.irq_cfg | int
            }
            INT_STS => self.int_sts,
            INT_EN => self.int_en,
            BYTE_TEST => BYTE_TEST_VALUE,
            FIFO_INT => self.fifo_int,
            RX_CFG => self.rx_cfg,
            TX_CFG => self.tx_cfg,
            HW_CFG => self.hw_cfg,
            RX_DP_CTRL => 0,
            RX_FIFO_INF => ((self.rx_status.len() as u32) << 16) | (self.rx_data.len() as u32 * 4),
            TX_FIFO_INF => {
                let free = self.tx_data_capacity().saturating_sub(self.tx_used_bytes());
                ((self.tx_status.len() as u32) << 16) | free
            }
            PMT_CTRL => self.pmt_ctrl,
            GPIO_CFG => self.gpio_cfg,
            GPT_CFG => self.gpt_cfg,
            GPT_CNT => self.gpt_count(self.now),
            WORD_SWAP => self.word_swap,
            FREE_RUN => self.free_run(),
            RX_DROP => std::mem::take(&mut self.rx_drop),
            MAC_CSR_CMD => self.mac_csr_cmd,
            MAC_CSR_DATA => self.mac_csr_data,
            AFC_CFG => self.afc_cfg,
            E2P_CMD => self.e2p_cmd,
            E2P_DATA => self.e2p_data,
            _ => 0,
        }
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        match offset {
            IRQ_CFG => self.irq_cfg = value & IRQ_CFG_WRITABLE,
            INT_STS => self.int_sts &= !value,
            INT_EN => {
                self.int_en = value & !INT_RESERVED;
                self.int_sts |= value & INT_SW;
            }
            FIFO_INT => self.fifo_int = value,
            RX_CFG => {
                if value & RX_CFG_RX_DUMP != 0 {
                    self.rx_dump();
                }
                self.rx_cfg = value & RX_CFG_WRITABLE;
            }
            TX_CFG => self.write_tx_cfg(value),
            HW_CFG => {
                if value & HW_CFG_SRST != 0 {
                    self.soft_reset();
                } else {
                    self.hw_cfg = (value & HW_CFG_WRITABLE) | HW_CFG_32BIT;
                }
            }
            RX_DP_CTRL if value & RX_DP_CTRL_RX_FFWD != 0 => self.rx_fast_forward(),
            PMT_CTRL => {
                if value & PMT_CTRL_PHY_RST != 0 {
                    self.phy_reset();
                }
                self.pmt_ctrl = (self.pmt_ctrl & !PMT_CTRL_WRITABLE) | (value & PMT_CTRL_WRITABLE);
            }
            GPIO_CFG => self.gpio_cfg = value & GPIO_CFG_WRITABLE,
            GPT_CFG => self.write_gpt_cfg(value),
            WORD_SWAP => self.word_swap = value,
            MAC_CSR_CMD => self.write_mac_csr_cmd(value),
            MAC_CSR_DATA => self.mac_csr_data = value,
            AFC_CFG => self.afc_cfg = value & AFC_CFG_WRITABLE,
            E2P_CMD => self.eeprom_command(value),
            E2P_DATA => self.e2p_data = value & 0xff,
            _ => {}
        }
    }
}

/// The multicast hash: the top six bits of the big-endian Ethernet CRC of
/// the destination address (Linux `ether_crc`, QEMU `net_crc32`).
fn mac_hash(addr: &[u8]) -> u32 {
    let mut crc: u32 = 0xffff_ffff;
    for &byte in addr {
        for bit in 0..8 {
            let carry = (crc >> 31) ^ ((byte >> bit) as u32 & 1);
            crc <<= 1;
            if carry != 0 {
                crc ^= 0x04c1_1db7;
            }
        }
    }
    crc >> 26
}

/// The FCS dword QEMU appends to a received frame: zlib's CRC-32 of the
/// frame started from 0xFFFFFFFF (rather than 0), byte-swapped. Drivers
/// discard it; it is reproduced so that raw FIFO contents match QEMU's.
fn qemu_fcs(frame: &[u8]) -> u32 {
    let mut crc: u32 = 0;
    for &byte in frame {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    (!crc).swap_bytes()
}

impl Device for Lan9118 {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "lan9118"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.sync(now);
        let offset = offset & REG_SPAN_MASK;
        let value = if offset <= RX_DATA_FIFO_END {
            self.rx_pop()
        } else if offset & 3 != 0 {
            0
        } else {
            self.read_reg(offset)
        };
        zero_extend(value, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        self.sync(now);
        let offset = offset & REG_SPAN_MASK;
        let value = zero_extend(value, size);
        if (TX_DATA_FIFO..=TX_DATA_FIFO_END).contains(&offset) {
            self.tx_push(value);
        } else if offset & 3 == 0 {
            self.write_reg(offset, value);
        }
    }

    fn reset(&mut self) {
        // Frames already sent have left the device; they stay with the host.
        self.power_on();
    }

    fn next_deadline(&self) -> Option<Ticks> {
        (self.gpt_running() && self.int_en & INT_GPT != 0)
            .then(|| self.gpt_expiry_tick(self.gpt_expiries))
    }

    fn advance(&mut self, now: Ticks) {
        self.sync(now);
    }

    fn irq_lines(&self) -> u32 {
        let cfg = self.irq_cfg;
        let asserted = self.irq_pending() && cfg & IRQ_CFG_IRQ_EN != 0;
        let active_high =
            cfg & (IRQ_CFG_IRQ_TYPE | IRQ_CFG_IRQ_POL) == (IRQ_CFG_IRQ_TYPE | IRQ_CFG_IRQ_POL);
        if asserted == active_high {
            LINE_IRQ
        } else {
            0
        }
    }

    fn wants_service(&self) -> bool {
        !self.sent.is_empty()
    }

    fn take_frames(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.sent)
    }

    fn receive_frame(&mut self, frame: &[u8], now: Ticks) -> bool {
        self.sync(now);
        // As QEMU's network layer: nothing arrives while the link is down.
        self.link_up && self.receive(frame)
    }

    fn set_link(&mut self, up: bool) {
        self.link_up = up;
        self.phy_update_link();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: u64 = 25_000_000;
    const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    const OTHER: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
    const BROADCAST: [u8; 6] = [0xff; 6];

    fn nic() -> Lan9118 {
        Lan9118::new(MAC, CLOCK)
    }

    fn rd(n: &mut Lan9118, offset: u64) -> u32 {
        n.read(offset, 4, 0)
    }

    fn wr(n: &mut Lan9118, offset: u64, value: u32) {
        n.write(offset, 4, value, 0)
    }

    fn mac_write(n: &mut Lan9118, index: u32, value: u32) {
        wr(n, MAC_CSR_DATA, value);
        wr(n, MAC_CSR_CMD, MAC_CSR_CMD_BUSY | index);
        assert_eq!(rd(n, MAC_CSR_CMD) & MAC_CSR_CMD_BUSY, 0);
    }

    fn mac_read(n: &mut Lan9118, index: u32) -> u32 {
        wr(n, MAC_CSR_CMD, MAC_CSR_CMD_BUSY | MAC_CSR_CMD_READ | index);
        assert_eq!(rd(n, MAC_CSR_CMD), MAC_CSR_CMD_READ | index);
        rd(n, MAC_CSR_DATA)
    }

    fn mii_cmd(reg: u32) -> u32 {
        (1 << MII_ACC_PHY_SHIFT) | (reg << MII_ACC_REG_SHIFT) | MII_ACC_BUSY
    }

    fn phy_read(n: &mut Lan9118, reg: u32) -> u32 {
        mac_write(n, MAC_MII_ACC, mii_cmd(reg));
        assert_eq!(mac_read(n, MAC_MII_ACC) & MII_ACC_BUSY, 0);
        mac_read(n, MAC_MII_DATA)
    }

    fn phy_write(n: &mut Lan9118, reg: u32, value: u32) {
        mac_write(n, MAC_MII_DATA, value);
        mac_write(n, MAC_MII_ACC, mii_cmd(reg) | MII_ACC_WRITE);
    }

    /// A frame to `dest` from OTHER, type IPv4, payload 1, 2, 3...
    fn frame(dest: [u8; 6], len: usize) -> Vec<u8> {
        let mut f = dest.to_vec();
        f.extend_from_slice(&OTHER);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend((1..=(len - 14)).map(|i| i as u8));
        f
    }

    /// What the drivers do: MAC TX/RX on (promiscuous off), TX_ON,
    /// push-pull active-high interrupt pin.
    fn enable(n: &mut Lan9118) {
        mac_write(n, MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN);
        wr(n, TX_CFG, TX_CFG_TX_ON);
        wr(
            n,
            IRQ_CFG,
            IRQ_CFG_IRQ_EN | IRQ_CFG_IRQ_POL | IRQ_CFG_IRQ_TYPE,
        );
    }

    /// A buffer's dwords: `offset` filler bytes, the data, filler to a dword.
    fn buffer_dwords(data: &[u8], offset: usize) -> Vec<u32> {
        let mut bytes = vec![0xee; offset];
        bytes.extend_from_slice(data);
        while !bytes.len().is_multiple_of(4) {
            bytes.push(0xee);
        }
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    fn send(n: &mut Lan9118, cmd_a: u32, cmd_b: u32, dwords: &[u32]) {
        wr(n, TX_DATA_FIFO, cmd_a);
        wr(n, TX_DATA_FIFO + 4, cmd_b);
        for &w in dwords {
            wr(n, TX_DATA_FIFO, w);
        }
    }

    /// Pop an RX status and read its frame (data offset 0): the frame
    /// bytes including the FCS.
    fn read_frame(n: &mut Lan9118) -> (u32, Vec<u8>) {
        let status = rd(n, RX_STATUS_FIFO);
        let len = ((status >> RX_STS_LENGTH_SHIFT) & 0x3fff) as usize;
        let mut bytes = Vec::new();
        for _ in 0..len.div_ceil(4) {
            bytes.extend_from_slice(&rd(n, RX_DATA_FIFO).to_le_bytes());
        }
        bytes.truncate(len);
        (status, bytes)
    }

    #[test]
    fn reset_values_and_id() {
        let mut n = nic();
        assert_eq!(rd(&mut n, ID_REV), 0x0118_0001);
        assert_eq!(rd(&mut n, BYTE_TEST), 0x8765_4321);
        assert_eq!(rd(&mut n, HW_CFG), 0x0005_0004);
        assert_eq!(rd(&mut n, PMT_CTRL), PMT_CTRL_READY);
        assert_eq!(rd(&mut n, FIFO_INT), 0x4800_0000);
        assert_eq!(rd(&mut n, GPT_CFG), 0xffff);
        assert_eq!(rd(&mut n, GPT_CNT), 0xffff);
        assert_eq!(rd(&mut n, E2P_CMD), E2P_CMD_MAC_LOADED);
        assert_eq!(rd(&mut n, TX_FIFO_INF), 4608);
        assert_eq!(rd(&mut n, RX_FIFO_INF), 0);
        assert_eq!(rd(&mut n, INT_STS), 0);
        assert_eq!(rd(&mut n, INT_EN), 0);
        assert_eq!(rd(&mut n, IRQ_CFG), 0);
        assert_eq!(rd(&mut n, RX_DROP), 0);
        assert_eq!(mac_read(&mut n, MAC_CR), MAC_CR_PRMS);
        // As QEMU: the pin is active low until configured push-pull
        // active-high, so an idle, unconfigured chip drives the line high.
        assert_eq!(n.irq_lines(), LINE_IRQ);
        wr(&mut n, IRQ_CFG, 0xffff_ffff);
        assert_eq!(rd(&mut n, IRQ_CFG), 0x111);
        assert_eq!(n.irq_lines(), 0);
        // Narrow reads see the low bits; unaligned ones miss; the registers
        // repeat every 256 bytes.
        assert_eq!(n.read(ID_REV, 2, 0), 0x0001);
        assert_eq!(n.read(ID_REV + 2, 2, 0), 0);
        assert_eq!(rd(&mut n, 0x100 + ID_REV), 0x0118_0001);
        assert_eq!(rd(&mut n, 0x60), 0);
        assert_eq!(n.kind(), "lan9118");
        assert_eq!(n.window(), 0x1000);
    }

    #[test]
    fn mac_address_through_csr_and_filter() {
        let mut n = nic();
        assert_eq!(mac_read(&mut n, MAC_ADDRL), 0x0000_0002);
        assert_eq!(mac_read(&mut n, MAC_ADDRH), 0x0000_0100);
        mac_write(&mut n, MAC_ADDRL, 0x4433_2211);
        mac_write(&mut n, MAC_ADDRH, 0xff_6655);
        assert_eq!(mac_read(&mut n, MAC_ADDRL), 0x4433_2211);
        assert_eq!(mac_read(&mut n, MAC_ADDRH), 0x6655);
        let new = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
        assert_eq!(n.mac_address(), new);
        enable(&mut n);
        assert!(n.receive_frame(&frame(new, 60), 0));
        assert!(!n.receive_frame(&frame(MAC, 60), 0));
        assert_eq!(rd(&mut n, RX_FIFO_INF) >> 16, 1);
        // Other MAC registers read back (FLOW keeps its pause time only).
        mac_write(&mut n, MAC_HASHH, 0x8000_0001);
        assert_eq!(mac_read(&mut n, MAC_HASHH), 0x8000_0001);
        mac_write(&mut n, MAC_FLOW, 0x1234_0006);
        assert_eq!(mac_read(&mut n, MAC_FLOW), 0x1234_0000);
        mac_write(&mut n, MAC_VLAN1, 0x8100);
        assert_eq!(mac_read(&mut n, MAC_VLAN1), 0x8100);
        assert_eq!(mac_read(&mut n, 0), 0);
    }

    #[test]
    fn mii_reads_phy_id_and_status() {
        let mut n = nic();
        assert_eq!(phy_read(&mut n, PHY_ID1), 0x0007);
        assert_eq!(phy_read(&mut n, PHY_ID2), 0xc0d1);
        assert_eq!(phy_read(&mut n, PHY_BMSR), 0x782d);
        assert_eq!(phy_read(&mut n, PHY_BMCR), 0x3000);
        assert_eq!(phy_read(&mut n, PHY_ANAR), 0x01e1);
        assert_eq!(phy_read(&mut n, PHY_ANLPAR), 0x0f71);
        assert_eq!(phy_read(&mut n, 17), 0);
        // Reset self-clears; restart-autonegotiation does not read back.
        phy_write(&mut n, PHY_BMCR, BMCR_RESET | BMCR_ANENABLE);
        assert_eq!(phy_read(&mut n, PHY_BMCR), 0x3000);
        phy_write(&mut n, PHY_BMCR, BMCR_ANENABLE | (1 << 9));
        assert_eq!(phy_read(&mut n, PHY_BMCR), BMCR_ANENABLE);
        phy_write(&mut n, PHY_ANAR, 0x0de1);
        assert_eq!(phy_read(&mut n, PHY_ANAR), 0x0de1);
        n.set_link(false);
        assert_eq!(phy_read(&mut n, PHY_BMSR), 0x7809);
    }

    #[test]
    fn transmit_two_buffers_with_odd_offsets() {
        let mut n = nic();
        enable(&mut n);
        let f = frame(OTHER, 23);
        let (a, b) = f.split_at(5);
        let cmd_b = (0xbeef << 16) | f.len() as u32;
        send(
            &mut n,
            TX_CMD_A_FIRST_SEG | (3 << TX_CMD_A_OFFSET_SHIFT) | a.len() as u32,
            cmd_b,
            &buffer_dwords(a, 3),
        );
        // Half a packet: nothing sent, its dwords occupy the FIFO.
        assert!(n.take_frames().is_empty());
        assert_eq!(rd(&mut n, TX_FIFO_INF), 4608 - 4 * 4);
        send(
            &mut n,
            TX_CMD_A_LAST_SEG | TX_CMD_A_IOC | (6 << TX_CMD_A_OFFSET_SHIFT) | b.len() as u32,
            cmd_b,
            &buffer_dwords(b, 6),
        );
        assert_eq!(n.take_frames(), vec![f]);
        assert_eq!(rd(&mut n, TX_FIFO_INF), (1 << 16) | 4608);
        assert_eq!(rd(&mut n, TX_STATUS_PEEK), 0xbeef_0000);
        assert_eq!(rd(&mut n, TX_STATUS_FIFO), 0xbeef_0000);
        assert_eq!(rd(&mut n, TX_FIFO_INF), 4608);
        assert_eq!(rd(&mut n, INT_STS), INT_TSFL | INT_TX_IOC);
        wr(&mut n, INT_STS, INT_TSFL | INT_TX_IOC);
        // The TX status level: TSFL only once more than 1 status is held.
        wr(&mut n, FIFO_INT, 1 << 16);
        let g = frame(BROADCAST, 42);
        let cmd_a = TX_CMD_A_FIRST_SEG | TX_CMD_A_LAST_SEG | g.len() as u32;
        send(&mut n, cmd_a, 7 << 16, &buffer_dwords(&g, 0));
        assert_eq!(rd(&mut n, INT_STS), 0);
        send(&mut n, cmd_a, 8 << 16, &buffer_dwords(&g, 0));
        assert_eq!(rd(&mut n, INT_STS), INT_TSFL);
        assert_eq!(n.take_frames(), vec![g.clone(), g]);
        assert_eq!(rd(&mut n, TX_STATUS_FIFO), 7 << 16);
        assert_eq!(rd(&mut n, TX_STATUS_FIFO), 8 << 16);
        assert_eq!(rd(&mut n, TX_STATUS_FIFO), 0);
    }

    #[test]
    fn transmit_waits_for_tx_on_and_honours_end_alignment() {
        let mut n = nic();
        mac_write(&mut n, MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN);
        let f = frame(OTHER, 22);
        // 16-byte end alignment: 22 data bytes + 2 offset = 6 dwords, so 2
        // dwords of padding follow.
        let cmd_a = TX_CMD_A_FIRST_SEG
            | TX_CMD_A_LAST_SEG
            | (1 << TX_CMD_A_END_ALIGN_SHIFT)
            | (2 << TX_CMD_A_OFFSET_SHIFT)
            | f.len() as u32;
        let mut dwords = buffer_dwords(&f, 2);
        dwords.extend([0xdead_beef, 0xdead_beef]);
        send(&mut n, cmd_a, 0x55 << 16, &dwords);
        assert!(n.take_frames().is_empty());
        assert_eq!(rd(&mut n, TX_FIFO_INF), 4608 - 10 * 4);
        wr(&mut n, TX_CFG, TX_CFG_TX_ON);
        assert_eq!(n.take_frames(), vec![f.clone()]);
        assert_eq!(rd(&mut n, TX_FIFO_INF), (1 << 16) | 4608);
        // The padding was consumed: the next packet is framed correctly.
        send(&mut n, cmd_a, 0x56 << 16, &dwords);
        assert_eq!(n.take_frames(), vec![f.clone()]);
        // STOP_TX turns the transmitter off and reports it.
        wr(&mut n, TX_CFG, TX_CFG_TX_ON | TX_CFG_STOP_TX);
        assert_eq!(rd(&mut n, TX_CFG), 0);
        assert_ne!(rd(&mut n, INT_STS) & INT_TXSTOP, 0);
        send(&mut n, cmd_a, 0x57 << 16, &dwords);
        assert!(n.take_frames().is_empty());
        // TXD_DUMP discards it; TXS_DUMP empties the status FIFO.
        wr(&mut n, TX_CFG, TX_CFG_TXD_DUMP | TX_CFG_TXS_DUMP);
        assert_eq!(rd(&mut n, TX_FIFO_INF), 4608);
        wr(&mut n, TX_CFG, TX_CFG_TX_ON);
        assert!(n.take_frames().is_empty());
    }

    #[test]
    fn receive_own_frame_word_by_word() {
        let mut n = nic();
        enable(&mut n);
        let f = frame(MAC, 60);
        assert!(n.receive_frame(&f, 0));
        // 60 bytes + FCS = 16 dwords.
        assert_eq!(rd(&mut n, RX_FIFO_INF), (1 << 16) | 64);
        assert_eq!(rd(&mut n, RX_STATUS_PEEK), 64 << 16);
        assert_eq!(rd(&mut n, RX_STATUS_FIFO), 64 << 16);
        let words: Vec<u32> = (0..16).map(|_| rd(&mut n, RX_DATA_FIFO)).collect();
        assert_eq!(words[0], 0x0000_0002);
        assert_eq!(words[1], 0x0002_0100);
        assert_eq!(buffer_dwords(&f, 0), words[..15]);
        // QEMU's FCS for this frame (zlib crc32 seeded with ~0, swapped).
        assert_eq!(words[15], 0xa185_9ba9);
        assert_eq!(rd(&mut n, RX_FIFO_INF), 0);
        assert_eq!(rd(&mut n, INT_STS) & INT_RXE, 0);
        // Reading past the end underflows.
        assert_eq!(rd(&mut n, RX_DATA_FIFO), 0);
        assert_ne!(rd(&mut n, INT_STS) & INT_RXE, 0);

        // An odd length: the FCS follows the data directly.
        let g = frame(MAC, 61);
        assert!(n.receive_frame(&g, 0));
        let (status, bytes) = read_frame(&mut n);
        assert_eq!(status, 65 << 16);
        assert_eq!(bytes[..61], g[..]);
        assert_eq!(bytes[61..], qemu_fcs(&g).to_le_bytes());
        // Any offset in the port range pops.
        assert!(n.receive_frame(&g, 0));
        rd(&mut n, RX_STATUS_FIFO);
        assert_eq!(rd(&mut n, 0x1c), 0x0000_0002);
    }

    #[test]
    fn receive_filtering() {
        let mut n = nic();
        // Receiver off: nothing.
        assert!(!n.receive_frame(&frame(MAC, 60), 0));
        enable(&mut n);
        assert!(!n.receive_frame(&frame(OTHER, 60), 0));
        assert!(n.receive_frame(&frame(BROADCAST, 60), 0));
        assert_eq!(rd(&mut n, RX_STATUS_FIFO), (64 << 16) | RX_STS_BROADCAST);
        rd(&mut n, RX_DP_CTRL);
        wr(&mut n, RX_DP_CTRL, RX_DP_CTRL_RX_FFWD);
        assert_eq!(rd(&mut n, RX_FIFO_INF), 0);
        // Filtered frames are not drops.
        assert_eq!(rd(&mut n, RX_DROP), 0);
        // Too short or too long.
        assert!(!n.receive_frame(&[0xff; 13], 0));
        assert!(!n.receive_frame(&frame(MAC, 2048), 0));

        // Promiscuous.
        mac_write(&mut n, MAC_CR, MAC_CR_RXEN | MAC_CR_PRMS);
        assert!(n.receive_frame(&frame(OTHER, 60), 0));
        assert_eq!(rd(&mut n, RX_STATUS_FIFO), 64 << 16);
        wr(&mut n, RX_CFG, RX_CFG_RX_DUMP);
        assert_eq!(rd(&mut n, RX_CFG), 0);
        assert_eq!(rd(&mut n, RX_FIFO_INF), 0);

        // Broadcast disabled.
        mac_write(&mut n, MAC_CR, MAC_CR_RXEN | MAC_CR_BCAST);
        assert!(!n.receive_frame(&frame(BROADCAST, 60), 0));

        // Multicast by hash (01:00:5e:00:00:01 hashes to bit 31 of HASHL).
        let group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
        let ipv6 = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];
        assert_eq!(mac_hash(&group), 31);
        assert_eq!(mac_hash(&ipv6), 62);
        mac_write(&mut n, MAC_CR, MAC_CR_RXEN | MAC_CR_HPFILT);
        assert!(!n.receive_frame(&frame(group, 60), 0));
        mac_write(&mut n, MAC_HASHL, 1 << 31);
        assert!(n.receive_frame(&frame(group, 60), 0));
        assert!(!n.receive_frame(&frame(ipv6, 60), 0));
        mac_write(&mut n, MAC_HASHH, 1 << 30);
        assert!(n.receive_frame(&frame(ipv6, 60), 0));
        assert_eq!(rd(&mut n, RX_STATUS_FIFO), (64 << 16) | RX_STS_MULTICAST);
        // Unicast stays perfect-filtered under HPFILT.
        assert!(n.receive_frame(&frame(MAC, 60), 0));
        assert!(!n.receive_frame(&frame(OTHER, 60), 0));
        // Pass all multicast.
        mac_write(&mut n, MAC_CR, MAC_CR_RXEN | MAC_CR_MCPAS);
        assert!(n.receive_frame(&frame([0x01, 0, 0, 0, 0, 9], 60), 0));
        // Receive all: filtered frames come in marked as failures.
        mac_write(&mut n, MAC_CR, MAC_CR_RXEN | MAC_CR_RXALL);
        wr(&mut n, RX_CFG, RX_CFG_RX_DUMP);
        assert!(n.receive_frame(&frame(OTHER, 60), 0));
        assert_eq!(rd(&mut n, RX_STATUS_FIFO), (64 << 16) | RX_STS_FILTER_FAIL);
        // Turning the receiver off is reported.
        mac_write(&mut n, MAC_CR, 0);
        assert_ne!(rd(&mut n, INT_STS) & INT_RXSTOP, 0);
    }

    #[test]
    fn fifo_information_counts() {
        let mut n = nic();
        enable(&mut n);
        assert!(n.receive_frame(&frame(MAC, 60), 0));
        assert!(n.receive_frame(&frame(MAC, 100), 0));
        assert_eq!(rd(&mut n, RX_FIFO_INF), (2 << 16) | (64 + 104));
        rd(&mut n, RX_STATUS_FIFO);
        assert_eq!(rd(&mut n, RX_FIFO_INF), (1 << 16) | (64 + 104));
        for _ in 0..16 {
            rd(&mut n, RX_DATA_FIFO);
        }
        assert_eq!(rd(&mut n, RX_FIFO_INF), (1 << 16) | 104);

        // TX_FIF_SZ resizes the FIFOs (2 KiB: 1536 bytes of TX data).
        wr(&mut n, HW_CFG, (2 << HW_CFG_TX_FIF_SZ_SHIFT) | (1 << 20));
        assert_eq!(rd(&mut n, HW_CFG), 0x0012_0004);
        assert_eq!(rd(&mut n, TX_FIFO_INF), 1536);
        wr(&mut n, TX_CFG, 0);
        let f = frame(OTHER, 1000);
        let cmd_a = TX_CMD_A_FIRST_SEG | TX_CMD_A_LAST_SEG | f.len() as u32;
        send(&mut n, cmd_a, 0, &buffer_dwords(&f, 0));
        assert_eq!(rd(&mut n, TX_FIFO_INF), 1536 - 1008);
        assert_eq!(rd(&mut n, INT_STS) & INT_TDFO, 0);
        // A second one does not fit: the overflowing dwords are lost.
        send(&mut n, cmd_a, 0, &buffer_dwords(&f, 0));
        assert_ne!(rd(&mut n, INT_STS) & INT_TDFO, 0);
        assert_eq!(rd(&mut n, TX_FIFO_INF), 0);
        wr(&mut n, TX_CFG, TX_CFG_TXD_DUMP | TX_CFG_TX_ON);
        assert!(n.take_frames().is_empty());
        assert_eq!(rd(&mut n, TX_FIFO_INF), 1536);
    }

    #[test]
    fn interrupt_line_follows_rsfl() {
        let mut n = nic();
        enable(&mut n);
        assert_eq!(n.irq_lines(), 0);
        wr(&mut n, INT_EN, INT_RSFL);
        // RX status level 1: the first frame is not enough.
        wr(&mut n, FIFO_INT, 1);
        assert!(n.receive_frame(&frame(MAC, 60), 0));
        assert_eq!(rd(&mut n, INT_STS), 0);
        assert!(n.receive_frame(&frame(MAC, 60), 0));
        assert_eq!(rd(&mut n, INT_STS), INT_RSFL);
        assert_eq!(n.irq_lines(), LINE_IRQ);
        assert_ne!(rd(&mut n, IRQ_CFG) & IRQ_CFG_IRQ_INT, 0);
        // Active low (IRQ_POL clear) inverts the pin; IRQ_INT does not.
        wr(&mut n, IRQ_CFG, IRQ_CFG_IRQ_EN | IRQ_CFG_IRQ_TYPE);
        assert_eq!(n.irq_lines(), 0);
        assert_ne!(rd(&mut n, IRQ_CFG) & IRQ_CFG_IRQ_INT, 0);
        wr(&mut n, IRQ_CFG, IRQ_CFG_IRQ_POL | IRQ_CFG_IRQ_TYPE);
        assert_eq!(n.irq_lines(), 0);
        wr(
            &mut n,
            IRQ_CFG,
            IRQ_CFG_IRQ_EN | IRQ_CFG_IRQ_POL | IRQ_CFG_IRQ_TYPE,
        );
        assert_eq!(n.irq_lines(), LINE_IRQ);
        // Write-1-to-clear.
        wr(&mut n, INT_STS, INT_RSFL);
        assert_eq!(n.irq_lines(), 0);
        assert_eq!(rd(&mut n, IRQ_CFG) & IRQ_CFG_IRQ_INT, 0);
        // The software interrupt.
        wr(&mut n, INT_EN, INT_SW);
        assert_eq!(rd(&mut n, INT_STS), INT_SW);
        assert_eq!(n.irq_lines(), LINE_IRQ);
        wr(&mut n, INT_EN, 0);
        assert_eq!(n.irq_lines(), 0);
        assert_eq!(rd(&mut n, INT_STS), INT_SW);
    }

    #[test]
    fn soft_reset_restores_defaults() {
        let mut n = nic();
        enable(&mut n);
        wr(&mut n, FIFO_INT, 0x1234);
        wr(&mut n, INT_EN, INT_RSFL);
        assert!(n.receive_frame(&frame(MAC, 60), 0));
        mac_write(&mut n, MAC_ADDRL, 0x4433_2211);
        phy_write(&mut n, PHY_BMCR, BMCR_LOOPBACK);
        n.write(HW_CFG, 4, HW_CFG_SRST, 0);
        assert_eq!(rd(&mut n, HW_CFG), 0x0005_0004);
        assert_eq!(rd(&mut n, FIFO_INT), 0x4800_0000);
        assert_eq!(rd(&mut n, INT_EN), 0);
        assert_eq!(rd(&mut n, INT_STS), 0);
        assert_eq!(rd(&mut n, RX_FIFO_INF), 0);
        assert_eq!(rd(&mut n, TX_CFG), 0);
        assert_eq!(mac_read(&mut n, MAC_CR), MAC_CR_PRMS);
        assert_eq!(n.mac_address(), MAC);
        assert_eq!(phy_read(&mut n, PHY_BMCR), 0x3000);
        // The pin's polarity and type survive, the enable does not.
        assert_eq!(rd(&mut n, IRQ_CFG), IRQ_CFG_IRQ_POL | IRQ_CFG_IRQ_TYPE);
        assert_eq!(rd(&mut n, PMT_CTRL) & PMT_CTRL_READY, PMT_CTRL_READY);
        // Power-on reset forgets them too.
        n.reset();
        assert_eq!(rd(&mut n, IRQ_CFG), 0);
    }

    #[test]
    fn link_changes_raise_phy_interrupt() {
        let mut n = nic();
        enable(&mut n);
        wr(&mut n, INT_EN, INT_PHY);
        // After reset the PHY reports energy-on and autonegotiation done,
        // visible once unmasked; reading the source clears it.
        phy_write(&mut n, PHY_INT_MASK, 0xf0);
        assert_eq!(rd(&mut n, INT_STS), INT_PHY);
        assert_eq!(phy_read(&mut n, PHY_INT_SRC), 0xc0);
        assert_eq!(rd(&mut n, INT_STS), 0);
        assert_eq!(n.irq_lines(), 0);

        n.set_link(false);
        assert_eq!(rd(&mut n, INT_STS), INT_PHY);
        assert_eq!(n.irq_lines(), LINE_IRQ);
        assert_eq!(
            phy_read(&mut n, PHY_BMSR) & (BMSR_LINK | BMSR_ANEG_COMPLETE),
            0
        );
        assert_eq!(phy_read(&mut n, PHY_INT_SRC), PHY_INT_LINK_DOWN);
        assert_eq!(rd(&mut n, INT_STS), 0);
        // No frames cross a dead link; transmission still reports status.
        assert!(!n.receive_frame(&frame(MAC, 60), 0));
        let f = frame(OTHER, 60);
        let cmd_a = TX_CMD_A_FIRST_SEG | TX_CMD_A_LAST_SEG | f.len() as u32;
        send(&mut n, cmd_a, 1 << 16, &buffer_dwords(&f, 0));
        assert!(n.take_frames().is_empty());
        assert_eq!(rd(&mut n, TX_STATUS_FIFO), 1 << 16);
        wr(&mut n, INT_STS, INT_TSFL);

        n.set_link(true);
        assert_eq!(rd(&mut n, INT_STS), INT_PHY);
        assert_eq!(phy_read(&mut n, PHY_INT_SRC), 0xc0);
        assert_eq!(phy_read(&mut n, PHY_BMSR), 0x782d);
        assert!(n.receive_frame(&frame(MAC, 60), 0));
        // W1C clears PHY_INT even with sources pending (as QEMU).
        n.set_link(true);
        wr(&mut n, INT_STS, INT_PHY);
        assert_eq!(rd(&mut n, INT_STS) & INT_PHY, 0);
    }

    #[test]
    fn phy_loopback_receives_own_transmission() {
        let mut n = nic();
        enable(&mut n);
        phy_write(&mut n, PHY_BMCR, BMCR_LOOPBACK | (1 << 8));
        // Linux's self-test packet: broadcast, minimum size, unaligned.
        let f = frame(BROADCAST, 64);
        let cmd_a = TX_CMD_A_FIRST_SEG | TX_CMD_A_LAST_SEG | (1 << 16) | 64;
        send(&mut n, cmd_a, (64 << 16) | 64, &buffer_dwords(&f, 1));
        assert!(n.take_frames().is_empty());
        assert_eq!(rd(&mut n, TX_STATUS_FIFO), 64 << 16);
        let (status, bytes) = read_frame(&mut n);
        assert_eq!(status, (68 << 16) | RX_STS_BROADCAST);
        assert_eq!(bytes[..64], f[..]);
    }

    #[test]
    fn rx_offset_end_alignment_and_fast_forward() {
        let mut n = nic();
        enable(&mut n);
        // Offset 6 bytes (one zero dword, then two zero bytes), 16-byte end
        // alignment.
        wr(
            &mut n,
            RX_CFG,
            (1 << RX_CFG_END_ALIGN_SHIFT) | (6 << RX_CFG_RXDOFF_SHIFT),
        );
        let f = frame(MAC, 60);
        for _ in 0..3 {
            assert!(n.receive_frame(&f, 0));
        }
        // 2 + 60 + 4 bytes = 17 dwords stored per frame.
        assert_eq!(rd(&mut n, RX_FIFO_INF), (3 << 16) | (3 * 68));
        let words: Vec<u32> = (0..20).map(|_| rd(&mut n, RX_DATA_FIFO)).collect();
        assert_eq!(words[0], 0);
        assert_eq!(words[1], 0x0002_0000);
        let mut bytes: Vec<u8> = words[1..18].iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes.drain(..2);
        assert_eq!(bytes[..60], f[..]);
        // 1 + 17 = 18 dwords, padded to 20.
        assert_eq!(words[18..], [0, 0]);
        assert_eq!(rd(&mut n, RX_FIFO_INF), (3 << 16) | (2 * 68));
        // Fast-forward in the middle of the second frame...
        rd(&mut n, RX_DATA_FIFO);
        rd(&mut n, RX_DATA_FIFO);
        wr(&mut n, RX_DP_CTRL, RX_DP_CTRL_RX_FFWD);
        assert_eq!(rd(&mut n, RX_DP_CTRL), 0);
        assert_eq!(rd(&mut n, RX_FIFO_INF), (3 << 16) | 68);
        // ...and the third is read from its start.
        assert_eq!(rd(&mut n, RX_DATA_FIFO), 0);
        assert_eq!(rd(&mut n, RX_DATA_FIFO), 0x0002_0000);
        // Fast-forward before reading a frame skips all of it.
        assert!(n.receive_frame(&f, 0));
        wr(&mut n, RX_DP_CTRL, RX_DP_CTRL_RX_FFWD);
        assert_eq!(rd(&mut n, RX_FIFO_INF) & 0xffff, 68);
        wr(&mut n, RX_DP_CTRL, RX_DP_CTRL_RX_FFWD);
        assert_eq!(rd(&mut n, RX_FIFO_INF) & 0xffff, 0);
    }

    #[test]
    fn rx_drops_when_fifo_full() {
        let mut n = nic();
        enable(&mut n);
        // 14 KiB of TX leaves 1920 bytes of RX data FIFO.
        wr(&mut n, HW_CFG, 14 << HW_CFG_TX_FIF_SZ_SHIFT);
        let f = frame(MAC, 1514);
        assert!(n.receive_frame(&f, 0));
        assert!(!n.receive_frame(&f, 0));
        assert!(!n.receive_frame(&f, 0));
        assert_ne!(rd(&mut n, INT_STS) & INT_RXDF, 0);
        assert_eq!(rd(&mut n, RX_DROP), 2);
        assert_eq!(rd(&mut n, RX_DROP), 0);
        assert_eq!(rd(&mut n, RX_FIFO_INF), (1 << 16) | 1520);
        // The status FIFO (32 entries at this size) limits small frames.
        wr(&mut n, RX_CFG, RX_CFG_RX_DUMP);
        let small = frame(MAC, 14);
        let accepted = (0..40).filter(|_| n.receive_frame(&small, 0)).count();
        assert_eq!(accepted, 32);
        assert_eq!(rd(&mut n, RX_DROP), 8);
        assert_ne!(rd(&mut n, INT_STS) & INT_RSFF, 0);
        assert_eq!(rd(&mut n, RX_FIFO_INF), (32 << 16) | (32 * 20));
    }

    #[test]
    fn general_purpose_timer_and_free_run() {
        let mut n = nic();
        wr(&mut n, INT_EN, INT_GPT);
        n.write(GPT_CFG, 4, GPT_CFG_TIMER_EN | 10, 1000);
        assert_eq!(n.read(GPT_CFG, 4, 1000), GPT_CFG_TIMER_EN | 10);
        // 10 kHz from a 25 MHz clock: 2500 ticks a count.
        assert_eq!(n.read(GPT_CNT, 4, 1000), 10);
        assert_eq!(n.read(GPT_CNT, 4, 1001), 9);
        assert_eq!(n.read(GPT_CNT, 4, 3500), 9);
        assert_eq!(n.read(GPT_CNT, 4, 3501), 8);
        assert_eq!(n.read(GPT_CNT, 4, 25_999), 0);
        assert_eq!(n.next_deadline(), Some(26_000));
        assert_eq!(n.read(INT_STS, 4, 25_999), 0);
        n.advance(26_000);
        assert_eq!(n.read(INT_STS, 4, 26_000), INT_GPT);
        assert_eq!(n.read(GPT_CNT, 4, 26_000), 0xffff);
        assert_eq!(n.read(GPT_CNT, 4, 26_001), 0xfffe);
        assert_eq!(n.next_deadline(), Some(26_000 + 0xffff * 2500));
        // Disabled: reads 0xFFFF, no deadline.
        n.write(GPT_CFG, 4, 10, 30_000);
        assert_eq!(n.read(GPT_CNT, 4, 40_000), 0xffff);
        assert_eq!(n.next_deadline(), None);
        // No GPT_INT while it is not enabled in INT_EN.
        n.write(INT_STS, 4, INT_GPT, 40_000);
        n.write(INT_EN, 4, 0, 40_000);
        n.write(GPT_CFG, 4, GPT_CFG_TIMER_EN | 1, 40_000);
        assert_eq!(n.next_deadline(), None);
        assert_eq!(n.read(INT_STS, 4, 50_000), 0);
        // FREE_RUN counts at 25 MHz since reset.
        assert_eq!(n.read(FREE_RUN, 4, 50_000), 50_000);
        n.write(HW_CFG, 4, HW_CFG_SRST, 60_000);
        assert_eq!(n.read(FREE_RUN, 4, 60_100), 100);
        assert_eq!(n.read(GPT_CNT, 4, 60_100), 0xffff);
    }

    #[test]
    fn eeprom_commands() {
        let mut n = nic();
        wr(&mut n, E2P_CMD, E2P_CMD_BUSY | 1);
        assert_eq!(rd(&mut n, E2P_CMD), E2P_CMD_MAC_LOADED | 1);
        assert_eq!(rd(&mut n, E2P_DATA), MAC[0] as u32);
        // Writes need EWEN and only clear bits.
        wr(&mut n, E2P_DATA, 0xf0);
        wr(
            &mut n,
            E2P_CMD,
            E2P_CMD_BUSY | (E2P_CMD_WRITE << E2P_CMD_SHIFT) | 6,
        );
        wr(&mut n, E2P_CMD, E2P_CMD_BUSY | 6);
        assert_eq!(rd(&mut n, E2P_DATA), 0x01);
        wr(
            &mut n,
            E2P_CMD,
            E2P_CMD_BUSY | (E2P_CMD_EWEN << E2P_CMD_SHIFT),
        );
        wr(&mut n, E2P_DATA, 0x0e);
        wr(
            &mut n,
            E2P_CMD,
            E2P_CMD_BUSY | (E2P_CMD_ERASE << E2P_CMD_SHIFT) | 6,
        );
        wr(
            &mut n,
            E2P_CMD,
            E2P_CMD_BUSY | (E2P_CMD_WRITE << E2P_CMD_SHIFT) | 6,
        );
        wr(
            &mut n,
            E2P_CMD,
            E2P_CMD_BUSY | (E2P_CMD_RELOAD << E2P_CMD_SHIFT),
        );
        assert_eq!(n.mac_address(), [2, 0, 0, 0, 0, 0x0e]);
        // The programmed address survives a soft reset.
        wr(&mut n, HW_CFG, HW_CFG_SRST);
        assert_eq!(n.mac_address(), [2, 0, 0, 0, 0, 0x0e]);
        assert_eq!(rd(&mut n, E2P_CMD), E2P_CMD_MAC_LOADED);
        // Without the signature nothing loads.
        wr(
            &mut n,
            E2P_CMD,
            E2P_CMD_BUSY | (E2P_CMD_EWEN << E2P_CMD_SHIFT),
        );
        wr(
            &mut n,
            E2P_CMD,
            E2P_CMD_BUSY | (E2P_CMD_ERASE << E2P_CMD_SHIFT),
        );
        wr(
            &mut n,
            E2P_CMD,
            E2P_CMD_BUSY | (E2P_CMD_RELOAD << E2P_CMD_SHIFT),
        );
        assert_eq!(rd(&mut n, E2P_CMD) & E2P_CMD_MAC_LOADED, 0);
        // Power-on restores the factory contents.
        n.reset();
        assert_eq!(n.mac_address(), MAC);
        assert_eq!(rd(&mut n, E2P_CMD), E2P_CMD_MAC_LOADED);
    }

    #[test]
    fn pmt_phy_reset_and_register_masks() {
        let mut n = nic();
        phy_write(&mut n, PHY_BMCR, BMCR_LOOPBACK);
        wr(&mut n, PMT_CTRL, PMT_CTRL_PHY_RST | 0x200);
        assert_eq!(rd(&mut n, PMT_CTRL), 0x201);
        assert_eq!(phy_read(&mut n, PHY_BMCR), 0x3000);
        wr(&mut n, GPIO_CFG, 0xffff_ffff);
        assert_eq!(rd(&mut n, GPIO_CFG), 0x7777_071f);
        wr(&mut n, AFC_CFG, 0xff6e_3740);
        assert_eq!(rd(&mut n, AFC_CFG), 0x006e_3740);
        wr(&mut n, INT_EN, !INT_SW);
        assert_eq!(rd(&mut n, INT_EN), 0x03ff_efff & !INT_SW);
        wr(&mut n, WORD_SWAP, 0xffff_ffff);
        assert_eq!(rd(&mut n, WORD_SWAP), 0xffff_ffff);
        // Narrow writes are zero-extended.
        n.write(FIFO_INT, 1, 0x1ff, 0);
        assert_eq!(rd(&mut n, FIFO_INT), 0xff);
        n.write(FIFO_INT + 1, 1, 0x12, 0);
        assert_eq!(rd(&mut n, FIFO_INT), 0xff);
    }
}
