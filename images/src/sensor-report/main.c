/*
 * sensor-report: the sensor-node's temperature, humidity and light
 * sampled once a second, one line per sample:
 *
 *   sensor-report: temperature, humidity, light at 1 Hz
 *   t=0.000 temp=21.500 hum=45.2% light=320
 *   t=1.000 temp=21.503 hum=45.2% light=318
 *
 * t is the sample's virtual time (seconds.milliseconds), temperature in
 * degrees Celsius with 3 decimals, relative humidity in percent with one,
 * light in whole lux (rounded). The three channels are started one after
 * the other at the same rate, light last, so when light's FIFO reaches its
 * threshold (1 sample; that interrupt is the only one used) the other two
 * hold the sample of the same second, taken microseconds earlier; t is
 * the temperature sample's. The LED lights for 50 ms with every
 * line (timer0 turns it off). It runs until the emulator stops it.
 */
#include <stdint.h>

#include "board.h"
#include "console.h"
#include "cortex_m.h"
#include "format.h"
#include "input.h"
#include "runtime.h"
#include "sensors.h"
#include "sensors_lib.h"

#if !defined(SENSOR_CH_TEMPERATURE) || !defined(SENSOR_CH_HUMIDITY) || !defined(SENSOR_CH_LIGHT)
#error "sensor-report needs temperature, humidity and light channels"
#endif

#define BLINK_MS 50u

void IRQ8_Handler(void)             /* timer0: end of the LED blink */
{
    TIMER0->intstatus = TIMER_INT;
    TIMER0->ctrl = 0;
    led_clear(0);
}

void IRQ30_Handler(void) { sensors_irq(); }

static void blink(void)
{
    led_set(0);
    TIMER0->ctrl = 0;
    TIMER0->intstatus = TIMER_INT;
    TIMER0->value = SYSCLK_HZ / 1000 * BLINK_MS;
    TIMER0->reload = SYSCLK_HZ / 1000 * BLINK_MS;
    TIMER0->ctrl = TIMER_CTRL_ENABLE | TIMER_CTRL_IRQ_EN;
}

/* The oldest sample of ch; if (unexpectedly) there is none, the latest
 * value at `t_us`. */
static void take(unsigned ch, struct sensor_sample *s, uint64_t t_us)
{
    if (sensors_drain(ch, s, 1) == 0) {
        sensors_read(ch, s->v);
        s->t_us = t_us;
    }
}

/* One line for the oldest light sample and its temperature and humidity
 * companions (taken a few microseconds earlier). */
static void report(void)
{
    struct sensor_sample temp, hum, light;
    char t_buf[FMT_BUF_SIZE], h_buf[FMT_BUF_SIZE], l_buf[FMT_BUF_SIZE];

    sensors_drain(SENSOR_CH_LIGHT, &light, 1);      /* re-arms its interrupt */
    take(SENSOR_CH_TEMPERATURE, &temp, light.t_us);
    take(SENSOR_CH_HUMIDITY, &hum, light.t_us);

    uint32_t ms = (uint32_t)(temp.t_us / 1000);
    fmt_milli(t_buf, temp.v[0], 3);
    fmt_milli(h_buf, hum.v[0], 1);
    fmt_milli(l_buf, light.v[0], 0);
    con_printf("t=%u.%03u temp=%s hum=%s%% light=%s\n",
               (unsigned)(ms / 1000), (unsigned)(ms % 1000), t_buf, h_buf, l_buf);
    blink();
}

int main(void)
{
    static const struct { unsigned ch; uint32_t type; } wanted[] = {
        {SENSOR_CH_TEMPERATURE, SENSOR_TYPE_TEMPERATURE},
        {SENSOR_CH_HUMIDITY, SENSOR_TYPE_HUMIDITY},
        {SENSOR_CH_LIGHT, SENSOR_TYPE_LIGHT},
    };

    if (sensors_init() < 0) {
        con_puts("sensor-report: no sensor hub\n");
        return 0;
    }
    for (unsigned i = 0; i < 3; i++) {
        uint32_t type = sensors_type(wanted[i].ch);
        if (type != wanted[i].type)
            con_printf("sensor-report: channel %u is %s, expected %s\n", wanted[i].ch,
                       sensors_type_name(type), sensors_type_name(wanted[i].type));
    }
    led_clear(0);
    nvic_clear_pending(IRQ_TIMER0);
    nvic_enable(IRQ_TIMER0);

    con_puts("sensor-report: temperature, humidity, light at 1 Hz\n");
    /* Light last, and only light interrupts (threshold 1). */
    sensors_enable(SENSOR_CH_TEMPERATURE, SENSOR_HZ(1), 1, 0);
    sensors_enable(SENSOR_CH_HUMIDITY, SENSOR_HZ(1), 1, 0);
    sensors_enable(SENSOR_CH_LIGHT, SENSOR_HZ(1), 1, 1);

    for (;;) {
        /* Sleep until the light channel's interrupt; PRIMASK closes the
         * gap between the test and the WFI. */
        cpu_irq_disable();
        uint32_t ready = sensors_ready();
        while (!ready) {
            cpu_wfi();
            cpu_irq_enable();
            cpu_isb();
            cpu_irq_disable();
            ready = sensors_ready();
        }
        cpu_irq_enable();

        /* One line per light sample (more than one if we fell behind). */
        while (sensors_count(SENSOR_CH_LIGHT))
            report();
    }
}
