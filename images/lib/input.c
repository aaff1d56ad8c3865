/* Touch and button events, LEDs; see include/input.h. */
#include <stdint.h>

#include "board.h"

#if BOARD_HAS_TOUCH || BOARD_HAS_GPIO

#include "cortex_m.h"
#include "gpio.h"
#include "input.h"
#include "touch.h"

static struct input_event queue[INPUT_QUEUE_LEN];
static volatile unsigned q_head, q_tail;     /* pop at head, push at tail */
static volatile uint32_t dropped;

static inline uint32_t irq_save(void)
{
    uint32_t m = get_primask();
    cpu_irq_disable();
    return m;
}

static inline void irq_restore(uint32_t m) { set_primask(m); }

/* Called from the handlers, which may preempt each other: masked. */
static void push(uint8_t type, uint8_t button, uint16_t x, uint16_t y)
{
    uint32_t m = irq_save();
    unsigned n = (q_tail - q_head) % (2 * INPUT_QUEUE_LEN);

    if (type == INPUT_TOUCH_MOVE && n > 0) {
        /* A drag makes many moves: fold into a move still waiting. */
        struct input_event *last = &queue[(q_tail - 1) % INPUT_QUEUE_LEN];
        if (last->type == INPUT_TOUCH_MOVE) {
            last->x = x;
            last->y = y;
            irq_restore(m);
            return;
        }
    }
    if (n == INPUT_QUEUE_LEN) {
        dropped++;
    } else {
        struct input_event *ev = &queue[q_tail % INPUT_QUEUE_LEN];
        ev->type = type;
        ev->button = button;
        ev->x = x;
        ev->y = y;
        /* Indices run modulo 2 * length, so full and empty differ. */
        q_tail = (q_tail + 1) % (2 * INPUT_QUEUE_LEN);
    }
    irq_restore(m);
}

int input_poll(struct input_event *ev)
{
    uint32_t m = irq_save();
    int got = q_head != q_tail;

    if (got) {
        *ev = queue[q_head % INPUT_QUEUE_LEN];
        q_head = (q_head + 1) % (2 * INPUT_QUEUE_LEN);
    }
    irq_restore(m);
    return got;
}

unsigned input_pending(void)
{
    return (q_tail - q_head) % (2 * INPUT_QUEUE_LEN);
}

uint32_t input_dropped(void) { return dropped; }

/* ---- touch ---------------------------------------------------------------- */

#if BOARD_HAS_TOUCH
static int touch_down;

void input_touch_irq(void)
{
    uint32_t e;

    /* The line stays high while the FIFO holds events: empty it. */
    while ((e = TOUCH->event) & TOUCH_EVENT_VALID) {
        int pressed = (e & TOUCH_EVENT_PRESSED) != 0;
        uint8_t type = !pressed ? INPUT_TOUCH_UP
                     : touch_down ? INPUT_TOUCH_MOVE : INPUT_TOUCH_DOWN;
        touch_down = pressed;
        push(type, 0, (uint16_t)TOUCH_EVENT_X(e), (uint16_t)TOUCH_EVENT_Y(e));
    }
    if (TOUCH->status & TOUCH_STATUS_OVERFLOW) {
        TOUCH->status = TOUCH_STATUS_OVERFLOW;
        dropped++;
    }
}
#endif

/* ---- buttons and LEDs ------------------------------------------------------------ */

#if BOARD_HAS_GPIO
static uint32_t button_mask;
static uint32_t levels;             /* button levels as last reported */

void input_gpio_irq(void)
{
    /* Status, then levels, then clear only the edges read: an edge after
     * the status read keeps its bit and comes back as a new interrupt. */
    uint32_t st = GPIO->int_status & button_mask;
    uint32_t in = GPIO->in;
    GPIO->int_status = st;

    for (unsigned b = 0; st >> b; b++) {
        if (!((st >> b) & 1))
            continue;
        uint32_t was = (levels >> b) & 1, now = (in >> b) & 1;
        if (was == now)     /* two edges since the last look: a full click */
            push(was ? INPUT_BUTTON_UP : INPUT_BUTTON_DOWN, (uint8_t)b, 0, 0);
        push(now ? INPUT_BUTTON_DOWN : INPUT_BUTTON_UP, (uint8_t)b, 0, 0);
    }
    levels = (levels & ~st) | (in & st);
}

uint32_t input_buttons(void) { return GPIO->in & button_mask; }

void led_set(unsigned n)    { GPIO->out_set = 1u << n; }
void led_clear(unsigned n)  { GPIO->out_clr = 1u << n; }
void led_write(uint32_t mask) { GPIO->out = mask; }
uint32_t led_state(void)    { return GPIO->out; }

void led_toggle(unsigned n)
{
    if (GPIO->out & (1u << n))
        led_clear(n);
    else
        led_set(n);
}
#else
uint32_t input_buttons(void) { return 0; }
void led_set(unsigned n) { (void)n; }
void led_clear(unsigned n) { (void)n; }
void led_toggle(unsigned n) { (void)n; }
void led_write(uint32_t mask) { (void)mask; }
uint32_t led_state(void) { return 0; }
#endif

int input_init(void)
{
    int found = 0;

#if BOARD_HAS_TOUCH
    if (TOUCH->id == TOUCH_ID) {
        TOUCH->ctrl = 0;
        while (TOUCH->event & TOUCH_EVENT_VALID)    /* stale events */
            ;
        TOUCH->status = TOUCH_STATUS_OVERFLOW;
        touch_down = (TOUCH->status & TOUCH_STATUS_PRESSED) != 0;
        nvic_clear_pending(IRQ_TOUCH);
        nvic_enable(IRQ_TOUCH);
        TOUCH->ctrl = TOUCH_CTRL_IE;
        found = 1;
    }
#endif
#if BOARD_HAS_GPIO
    if (GPIO->id == GPIO_ID) {
        uint32_t n = GPIO->num_inputs;
        button_mask = n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1;
        GPIO->rise_ie = 0;
        GPIO->fall_ie = 0;
        GPIO->int_status = 0xFFFFFFFFu;
        levels = GPIO->in & button_mask;
        nvic_clear_pending(IRQ_GPIO);
        nvic_enable(IRQ_GPIO);
        GPIO->rise_ie = button_mask;
        GPIO->fall_ie = button_mask;
        found = 1;
    }
#endif
    return found ? 0 : -1;
}

#endif /* BOARD_HAS_TOUCH || BOARD_HAS_GPIO */
