/*
 * FP-register-level pieces of the fpu-context image. Everything that must
 * control exactly which FP instruction executes first, or hold values in
 * S0-S31 across an exception, is written here rather than in C.
 */
    .syntax unified
    .thumb
    .fpu    fpv4-sp-d16
    .text

    .equ ICSR,           0xE000ED04
    .equ ICSR_PENDSVSET, 1 << 28
    .equ NVIC_STIR,      0xE000EF00
    .equ FPCCR,          0xE000EF34
    .equ CONTROL_FPCA,   1 << 2

/* struct fp_thread field offsets, see main.c */
    .equ THREAD_SP,      0

/*
 * void fp_irq_roundtrip(const uint32_t in[33], uint32_t out[34],
 *                       unsigned irq, int clear_fpca)
 *
 * Loads S0-S31 from in[0..31] and FPSCR from in[32], optionally clears
 * CONTROL.FPCA (declaring that there is no FP context to preserve),
 * triggers the interrupt through STIR and, once it has returned, stores
 * S0-S31 to out[0..31], FPSCR to out[32] and the CONTROL value found on
 * return (before any further FP instruction) to out[33].
 */
    .global fp_irq_roundtrip
    .type   fp_irq_roundtrip, %function
    .thumb_func
fp_irq_roundtrip:
    push    {r4, lr}
    vpush   {s16-s31}               /* callee-saved under the AAPCS */
    vldmia  r0, {s0-s31}
    ldr     r4, [r0, #128]
    vmsr    fpscr, r4
    cbz     r3, 1f
    mrs     r4, control
    bic     r4, r4, #CONTROL_FPCA
    msr     control, r4
    isb
1:  ldr     r4, =NVIC_STIR
    str     r2, [r4]
    dsb
    isb                             /* the interrupt is taken here */
    mrs     r4, control
    str     r4, [r1, #132]
    vstmia  r1, {s0-s31}
    vmrs    r4, fpscr
    str     r4, [r1, #128]
    vpop    {s16-s31}
    pop     {r4, pc}
    .size   fp_irq_roundtrip, . - fp_irq_roundtrip

/*
 * The interrupt used by fp_irq_roundtrip. Captures FPCCR and CONTROL
 * before any FP instruction can run in the handler (a C function might
 * start with a VPUSH), then tail-calls
 *   fp_irq_body(exc_return, frame, fpccr_at_entry, control_at_entry)
 * which returns straight to the interrupted code through the EXC_RETURN
 * still in LR. The frame is on the main stack: the thread is main().
 */
    .global IRQ30_Handler
    .type   IRQ30_Handler, %function
    .thumb_func
IRQ30_Handler:
    ldr     r2, =FPCCR
    ldr     r2, [r2]
    mrs     r3, control
    mov     r0, lr
    mov     r1, sp
    b       fp_irq_body
    .size   IRQ30_Handler, . - IRQ30_Handler

/*
 * uint32_t fp_clobber_low(const uint32_t vals[16]): overwrite S0-S15 (the
 * handler's first FP instruction, which triggers the lazy save of the
 * interrupted context) and return the FPSCR the handler now runs with.
 */
    .global fp_clobber_low
    .type   fp_clobber_low, %function
    .thumb_func
fp_clobber_low:
    vldmia  r0, {s0-s15}
    vmrs    r0, fpscr
    bx      lr
    .size   fp_clobber_low, . - fp_clobber_low

/*
 * PendSV, RTOS style: the hardware stacked R0-R3, R12, LR, PC, xPSR and, if
 * the thread had an FP context (EXC_RETURN bit 4 clear), S0-S15 and FPSCR
 * (lazily: space only, filled on the first FP instruction in a handler).
 * Software saves R4-R11, EXC_RETURN and, for FP threads, S16-S31; the
 * VSTMDB of S16-S31 is that first FP instruction, so it also makes the
 * hardware write S0-S15 into the space it reserved.
 * sched_current == NULL means main() is running; main() cleared
 * CONTROL.FPCA first, so it only ever has a basic frame on the MSP.
 */
    .global PendSV_Handler
    .type   PendSV_Handler, %function
    .thumb_func
PendSV_Handler:
    ldr     r1, =sched_current
    ldr     r0, [r1]
    cbz     r0, 1f
    mrs     r2, psp
    tst     lr, #0x10
    it      eq
    vstmdbeq r2!, {s16-s31}
    stmdb   r2!, {r4-r11, lr}
    str     r2, [r0, #THREAD_SP]
    b       2f
1:  ldr     r1, =sched_main_exc_return
    str     lr, [r1]
2:  push    {r0, lr}                /* keep the MSP 8-byte aligned */
    bl      sched_pick              /* r0 = next thread, NULL for main() */
    add     sp, sp, #8
    cbz     r0, 3f
    ldr     r2, [r0, #THREAD_SP]
    ldmia   r2!, {r4-r11, lr}
    tst     lr, #0x10
    it      eq
    vldmiaeq r2!, {s16-s31}
    msr     psp, r2
    bx      lr
3:  ldr     r1, =sched_main_exc_return
    ldr     lr, [r1]
    bx      lr
    .size   PendSV_Handler, . - PendSV_Handler

/*
 * void sched_run(void): clear CONTROL.FPCA, as RTOS start-up code does, so
 * main() has no FP context while threads run, and run the threads until
 * they have all exited. The threads do not restore main()'s callee-saved
 * registers, so they are saved here.
 */
    .global sched_run
    .type   sched_run, %function
    .thumb_func
sched_run:
    push    {r4-r11, lr}
    vpush   {s16-s31}
    movs    r0, #0
    msr     control, r0
    isb
    ldr     r0, =ICSR
    mov     r1, #ICSR_PENDSVSET
    str     r1, [r0]
    dsb
    isb
    vpop    {s16-s31}
    pop     {r4-r11, pc}
    .size   sched_run, . - sched_run

/*
 * void fp_wait_turn(const uint32_t in[33], uint32_t out[33],
 *                   volatile unsigned *turn, unsigned me)
 *
 * Loads S0-S31 and FPSCR from in[], spins until *turn == me (this is where
 * the thread is preempted and switched out), then stores S0-S31 and FPSCR
 * to out[] for the caller to compare.
 */
    .global fp_wait_turn
    .type   fp_wait_turn, %function
    .thumb_func
fp_wait_turn:
    push    {r4, lr}
    vpush   {s16-s31}
    vldmia  r0, {s0-s31}
    ldr     r4, [r0, #128]
    vmsr    fpscr, r4
1:  ldr     r4, [r2]
    cmp     r4, r3
    bne     1b
    vstmia  r1, {s0-s31}
    vmrs    r4, fpscr
    str     r4, [r1, #128]
    vpop    {s16-s31}
    pop     {r4, pc}
    .size   fp_wait_turn, . - fp_wait_turn
