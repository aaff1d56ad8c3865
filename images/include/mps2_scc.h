/*
 * MPS2 Serial Communication Controller registers (0x4002_F000): the
 * FPGA-side configuration block. Software mostly reads SCC_ID to learn
 * which application note (FPGA image) is loaded: bits 15:4 hold the AN
 * number in BCD-like hex, e.g. 0x385 for AN385.
 */
#ifndef ENSEMBLE_MPS2_SCC_H
#define ENSEMBLE_MPS2_SCC_H

#include <stdint.h>

struct mps2_scc {
    volatile uint32_t cfg_reg0;   /* 0x00 remap control                   */
    volatile uint32_t cfg_reg1;   /* 0x04 LEDs on the MCC                 */
    volatile uint32_t cfg_reg2;   /* 0x08                                 */
    volatile uint32_t cfg_reg3;   /* 0x0C switches                        */
    volatile uint32_t cfg_reg4;   /* 0x10 board revision                  */
    uint32_t reserved0[35];
    volatile uint32_t cfgdata_rtn;  /* 0xA0 data read back by a CFGCTRL access */
    volatile uint32_t cfgdata_out;  /* 0xA4 data for a CFGCTRL write            */
    volatile uint32_t cfgctrl;      /* 0xA8 start/write/function/site/device    */
    volatile uint32_t cfgstat;      /* 0xAC complete/error                      */
    uint32_t reserved1[20];
    volatile uint32_t dll;          /* 0x100 DLL lock status                    */
    uint32_t reserved2[957];
    volatile uint32_t aid;          /* 0xFF8 FPGA build / number of CFG regs    */
    volatile uint32_t id;           /* 0xFFC implementer, AN number, revision   */
};

_Static_assert(__builtin_offsetof(struct mps2_scc, cfgdata_rtn) == 0xA0, "SCC layout");
_Static_assert(__builtin_offsetof(struct mps2_scc, dll) == 0x100, "SCC layout");
_Static_assert(__builtin_offsetof(struct mps2_scc, id) == 0xFFC, "SCC layout");

#define MPS2_SCC ((struct mps2_scc *)0x4002F000u)

#endif
