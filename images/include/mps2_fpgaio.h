/*
 * MPS2 FPGA I/O block (0x4002_8000): user LEDs and buttons plus three
 * free-running counters that software can use as time bases.
 */
#ifndef ENSEMBLE_MPS2_FPGAIO_H
#define ENSEMBLE_MPS2_FPGAIO_H

#include <stdint.h>

struct mps2_fpgaio {
    volatile uint32_t led;         /* 0x00 bits 1:0 drive the two user LEDs   */
    uint32_t reserved0;
    volatile uint32_t button;      /* 0x08 bits 1:0 read the two user buttons */
    uint32_t reserved1;
    volatile uint32_t clk1hz;      /* 0x10 counts at 1 Hz                     */
    volatile uint32_t clk100hz;    /* 0x14 counts at 100 Hz                   */
    volatile uint32_t counter;     /* 0x18 counts at the system clock         */
};

#define MPS2_FPGAIO ((struct mps2_fpgaio *)0x40028000u)

#endif
