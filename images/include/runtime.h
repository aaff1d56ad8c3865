/*
 * Shared run-time support for the test images: exception handler names
 * (all weak in lib/startup.c, so an image overrides one by defining it) and
 * the common way every image ends.
 */
#ifndef ENSEMBLE_RUNTIME_H
#define ENSEMBLE_RUNTIME_H

#include <stdint.h>

/* System exceptions. */
void Reset_Handler(void);
void NMI_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SVC_Handler(void);
void DebugMon_Handler(void);
void PendSV_Handler(void);
void SysTick_Handler(void);

/* External interrupts, IRQ n = exception 16 + n. */
void IRQ0_Handler(void);  void IRQ1_Handler(void);  void IRQ2_Handler(void);
void IRQ3_Handler(void);  void IRQ4_Handler(void);  void IRQ5_Handler(void);
void IRQ6_Handler(void);  void IRQ7_Handler(void);  void IRQ8_Handler(void);
void IRQ9_Handler(void);  void IRQ10_Handler(void); void IRQ11_Handler(void);
void IRQ12_Handler(void); void IRQ13_Handler(void); void IRQ14_Handler(void);
void IRQ15_Handler(void); void IRQ16_Handler(void); void IRQ17_Handler(void);
void IRQ18_Handler(void); void IRQ19_Handler(void); void IRQ20_Handler(void);
void IRQ21_Handler(void); void IRQ22_Handler(void); void IRQ23_Handler(void);
void IRQ24_Handler(void); void IRQ25_Handler(void); void IRQ26_Handler(void);
void IRQ27_Handler(void); void IRQ28_Handler(void); void IRQ29_Handler(void);
void IRQ30_Handler(void); void IRQ31_Handler(void);

/*
 * Stop for good: disable SysTick and every NVIC interrupt, drop anything
 * pending, mask interrupts and sleep. With no possible wake-up source an
 * emulator can recognise that the guest is finished.
 */
void halt(void) __attribute__((noreturn));

#endif
