/*
 * The network stack's millisecond clock: SysTick at 1 kHz from the
 * processor clock. Under Ensemble this is virtual time, under QEMU host
 * time, so nothing printed may depend on its value; it only orders events
 * (timeouts, the announcement period).
 */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"
#include "net.h"

static volatile uint32_t now_ms;

void SysTick_Handler(void)
{
    now_ms++;
}

void net_clock_init(void)
{
    SYSTICK->ctrl = 0;
    SYSTICK->load = SYSCLK_HZ / 1000u - 1u;   /* reload is "ticks - 1" */
    SYSTICK->val = 0;
    SYSTICK->ctrl = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;
}

uint32_t net_now_ms(void)
{
    return now_ms;
}
