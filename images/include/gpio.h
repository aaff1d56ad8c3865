/*
 * Ensemble GPIO block "GPI1": buttons as inputs with edge interrupts and
 * LEDs as outputs. Ensemble's own design; the model is devices/src/gpio.rs.
 * In the window, keys press the buttons and the LEDs are drawn beside the
 * screen; headless, scenario steps press buttons and check LEDs.
 *
 * On the MPS2-based boards and sensor-node: registers at 0x4010_2000,
 * IRQ 27. The board sets how many inputs and outputs exist (NUM_INPUTS,
 * NUM_OUTPUTS, at most 32 each); bits above them read 0.
 *
 * IN bit n is 1 while button n is pressed. A change of IN bit n from 0 to
 * 1 sets INT_STATUS bit n if RISE_IE bit n is set; 1 to 0 does if FALL_IE
 * bit n is set. The interrupt line is high while INT_STATUS != 0; write 1s
 * to INT_STATUS to clear. OUT drives the LEDs (1 = lit); OUT_SET and
 * OUT_CLR set and clear the bits written as 1.
 *
 * Reset: all zero, except IN, which follows the buttons (a reset does
 * not release them). Registers are 32-bit; unlisted offsets read 0.
 */
#ifndef ENSEMBLE_GPIO_H
#define ENSEMBLE_GPIO_H

#include <stdint.h>

struct gpio_regs {
    volatile uint32_t id;          /* 0x00 RO  0x47504931 "GPI1"      */
    volatile uint32_t in;          /* 0x04 RO  button levels           */
    volatile uint32_t out;         /* 0x08 RW  LED levels              */
    volatile uint32_t out_set;     /* 0x0C WO  OUT |= value            */
    volatile uint32_t out_clr;     /* 0x10 WO  OUT &= ~value           */
    volatile uint32_t rise_ie;     /* 0x14 RW  interrupt on 0->1       */
    volatile uint32_t fall_ie;     /* 0x18 RW  interrupt on 1->0       */
    volatile uint32_t int_status;  /* 0x1C W1C edges seen              */
    volatile uint32_t num_inputs;  /* 0x20 RO                          */
    volatile uint32_t num_outputs; /* 0x24 RO                          */
};

#define GPIO_ID   0x47504931u
#define GPIO      ((struct gpio_regs *)0x40102000u)
#define IRQ_GPIO  27

#endif
