/*
 * Touch panel (TCH1, include/touch.h) and buttons (GPI1, include/gpio.h)
 * as one queue of events, filled by their interrupt handlers; and the
 * GPIO LEDs. For boards with BOARD_HAS_TOUCH and/or BOARD_HAS_GPIO.
 *
 * The library does not own the vector table; an image that calls
 * input_init() routes the interrupts of the devices its board has:
 *
 *     void IRQ26_Handler(void) { input_touch_irq(); }   (BOARD_HAS_TOUCH)
 *     void IRQ27_Handler(void) { input_gpio_irq(); }    (BOARD_HAS_GPIO)
 *
 * The LED functions need no initialisation and no interrupt.
 */
#ifndef ENSEMBLE_INPUT_H
#define ENSEMBLE_INPUT_H

#include <stdint.h>

enum input_type {
    INPUT_TOUCH_DOWN,   /* finger down at x, y */
    INPUT_TOUCH_MOVE,   /* moved while down    */
    INPUT_TOUCH_UP,     /* lifted at x, y      */
    INPUT_BUTTON_DOWN,  /* button `button` pressed  */
    INPUT_BUTTON_UP,    /* button `button` released */
};

struct input_event {
    uint8_t type;       /* enum input_type */
    uint8_t button;
    uint16_t x, y;      /* touch: panel pixels (unrotated) */
};

#define INPUT_QUEUE_LEN 32

/*
 * Enable the touch and button interrupts (both edges of every button the
 * GPIO block reports). Returns 0, or -1 if the board has neither device.
 */
int input_init(void);

/* Pop the oldest event into *ev: 1, or 0 if the queue is empty. */
int input_poll(struct input_event *ev);
/* Events waiting (for a sleep-until-something-happens loop). */
unsigned input_pending(void);
/* Events lost because the queue (or the touch FIFO) was full. */
uint32_t input_dropped(void);

/* Current button levels, bit n = button n pressed. */
uint32_t input_buttons(void);

void led_set(unsigned n);
void led_clear(unsigned n);
void led_toggle(unsigned n);
void led_write(uint32_t mask);      /* all LEDs at once, bit n = LED n */
uint32_t led_state(void);

void input_touch_irq(void);
void input_gpio_irq(void);

#endif
