/* The SNS1 sensor hub; see include/sensors_lib.h. */
#include <stdint.h>

#include "board.h"

#if BOARD_HAS_SENSORS

#include "cortex_m.h"
#include "sensors.h"
#include "sensors_lib.h"

#define MAX_CHANNELS 16

static unsigned num_channels;
static uint32_t irq_channels;           /* channels that want the interrupt */
static volatile uint32_t ready_mask;    /* set by sensors_irq()            */
static uint64_t hub_now;                /* latest 64-bit time seen, us     */

static inline uint32_t irq_save(void)
{
    uint32_t m = get_primask();
    cpu_irq_disable();
    return m;
}

static inline void irq_restore(uint32_t m) { set_primask(m); }

int sensors_init(void)
{
    if (SENSORS->id != SENSORS_ID)
        return -1;
    num_channels = SENSORS->num_channels;
    if (num_channels > MAX_CHANNELS)
        num_channels = MAX_CHANNELS;
    SENSORS->int_enable = 0;
    for (unsigned c = 0; c < num_channels; c++)
        SENSORS->ch[c].ctrl = 0;
    irq_channels = 0;
    ready_mask = 0;
    nvic_clear_pending(IRQ_SENSORS);
    nvic_enable(IRQ_SENSORS);
    return (int)num_channels;
}

uint32_t sensors_type(unsigned ch)
{
    return ch < num_channels ? SENSORS->ch[ch].type : 0;
}

unsigned sensors_axes(unsigned ch)
{
    return ch < num_channels ? SENSORS->ch[ch].axes : 0;
}

const char *sensors_type_name(uint32_t type)
{
    static const char *const names[] = {
        "none", "accel", "gyro", "mag", "temperature", "humidity",
        "pressure", "light", "heart-rate", "steps",
    };
    return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

static void set_irq_enable(uint32_t bit, int on)
{
    uint32_t m = irq_save();
    if (on)
        SENSORS->int_enable |= bit;
    else
        SENSORS->int_enable &= ~bit;
    irq_restore(m);
}

void sensors_enable(unsigned ch, uint32_t rate_mhz, unsigned threshold, int irq)
{
    if (ch >= num_channels)
        return;
    struct sensor_channel_regs *c = &SENSORS->ch[ch];
    uint32_t bit = 1u << ch;

    c->ctrl = 0;
    set_irq_enable(bit, 0);
    c->rate_mhz = rate_mhz;
    c->threshold = threshold;
    /* Start from an empty FIFO: pop whatever an earlier run left. */
    for (uint32_t n = c->fifo_count * c->axes; n; n--)
        (void)c->fifo_data;
    c->status = SENSOR_STATUS_OVERFLOW;

    uint32_t m = irq_save();
    ready_mask &= ~bit;
    if (irq)
        irq_channels |= bit;
    else
        irq_channels &= ~bit;
    irq_restore(m);
    if (irq)
        set_irq_enable(bit, 1);
    c->ctrl = SENSOR_CTRL_ENABLE;
}

void sensors_disable(unsigned ch)
{
    if (ch >= num_channels)
        return;
    SENSORS->ch[ch].ctrl = 0;
    set_irq_enable(1u << ch, 0);
    uint32_t m = irq_save();
    irq_channels &= ~(1u << ch);
    irq_restore(m);
}

void sensors_read(unsigned ch, int32_t value[3])
{
    value[0] = value[1] = value[2] = 0;
    if (ch >= num_channels)
        return;
    struct sensor_channel_regs *c = &SENSORS->ch[ch];
    unsigned axes = c->axes;
    uint32_t ts;
    /* The three axes of one sample: retry if a new one came in between. */
    do {
        ts = c->timestamp;
        value[0] = c->value_x;
        if (axes > 1) {
            value[1] = c->value_y;
            value[2] = c->value_z;
        }
    } while (ts != c->timestamp);
}

int32_t sensors_read1(unsigned ch)
{
    return ch < num_channels ? SENSORS->ch[ch].value_x : 0;
}

unsigned sensors_count(unsigned ch)
{
    return ch < num_channels ? SENSORS->ch[ch].fifo_count : 0;
}

/* The hub's 32-bit microsecond stamp, placed in the 2^32 us window around
 * the latest time seen so far. */
static uint64_t extend_time(uint32_t ts)
{
    const uint64_t wrap = 1ull << 32, half = 1ull << 31;
    uint64_t t = (hub_now & ~(wrap - 1)) | ts;

    if (t + half < hub_now)
        t += wrap;
    else if (t > hub_now + half && t >= wrap)
        t -= wrap;
    if (t > hub_now)
        hub_now = t;
    return t;
}

unsigned sensors_drain(unsigned ch, struct sensor_sample *out, unsigned max)
{
    if (ch >= num_channels)
        return 0;
    struct sensor_channel_regs *c = &SENSORS->ch[ch];
    unsigned axes = c->axes;
    uint32_t rate = c->rate_mhz;
    uint32_t ts, total;

    /* The stamp belongs to the newest of `total` samples: read both
     * between two samples. */
    do {
        ts = c->timestamp;
        total = c->fifo_count;
    } while (ts != c->timestamp);

    uint64_t newest = extend_time(ts);
    unsigned n = total < max ? total : max;
    for (unsigned i = 0; i < n; i++) {
        /* Sample i is total-1-i periods older than the newest. */
        uint64_t back = (uint64_t)(total - 1 - i) * 1000000000u / (rate ? rate : 1);
        out[i].t_us = back < newest ? newest - back : 0;
        for (unsigned a = 0; a < 3; a++)
            out[i].v[a] = a < axes ? c->fifo_data : 0;
    }
    if (irq_channels & (1u << ch))
        set_irq_enable(1u << ch, 1);
    return n;
}

uint32_t sensors_ready(void)
{
    uint32_t m = irq_save();
    uint32_t r = ready_mask;
    ready_mask = 0;
    irq_restore(m);
    return r;
}

void sensors_irq(void)
{
    /* Mask the channels that are ready (their line would stay high until
     * drained) and leave them to the main program. */
    uint32_t s = SENSORS->int_status & SENSORS->int_enable;

    SENSORS->int_enable &= ~s;
    ready_mask |= s;
}

#endif /* BOARD_HAS_SENSORS */
