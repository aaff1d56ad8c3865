/*
 * Context-switch primitives for the context-switch image: the PendSV
 * handler that swaps threads, the SVC entry, the call that hands the CPU
 * from main() to the threads and back, and a register-checking spin loop.
 */
    .syntax unified
    .thumb
    .text

/* struct thread field offsets, see main.c */
    .equ THREAD_SP,      0
    .equ THREAD_CONTROL, 4

    .equ ICSR,           0xE000ED04
    .equ ICSR_PENDSVSET, 1 << 28

/*
 * PendSV: save the callee-saved registers of the outgoing thread below its
 * hardware frame on the process stack, ask sched_pick() for the next
 * thread, restore that one's registers and CONTROL and return to it.
 * sched_current == NULL means main() is running: its state lives on the
 * main stack (hardware frame) and in sched_run()'s stack frame, so there is
 * nothing to save, and returning to it means returning on the main stack.
 */
    .global PendSV_Handler
    .type   PendSV_Handler, %function
    .thumb_func
PendSV_Handler:
    ldr     r1, =sched_current
    ldr     r0, [r1]
    cbz     r0, 1f
    mrs     r2, psp
    stmdb   r2!, {r4-r11}
    str     r2, [r0, #THREAD_SP]
1:  push    {r0, lr}                /* two words: keep the MSP 8-byte aligned */
    bl      sched_pick              /* r0 = next thread, NULL for main() */
    add     sp, sp, #8              /* LR is rebuilt below, not restored */
    cbz     r0, 2f
    ldr     r1, [r0, #THREAD_CONTROL]
    msr     control, r1             /* nPRIV only: SPSEL comes from EXC_RETURN */
    isb
    ldr     r2, [r0, #THREAD_SP]
    ldmia   r2!, {r4-r11}
    msr     psp, r2
    ldr     lr, =0xFFFFFFFD         /* Thread mode, process stack, basic frame */
    bx      lr
2:  movs    r1, #0
    msr     control, r1             /* main() runs privileged */
    isb
    ldr     lr, =0xFFFFFFF9         /* Thread mode, main stack, basic frame */
    bx      lr
    .size   PendSV_Handler, . - PendSV_Handler

/*
 * SVC: the frame is on whichever stack the caller used (EXC_RETURN bit 2);
 * svc_dispatch(frame) decodes the immediate from the SVC instruction just
 * before the stacked PC.
 */
    .global SVC_Handler
    .type   SVC_Handler, %function
    .thumb_func
SVC_Handler:
    tst     lr, #4
    ite     eq
    mrseq   r0, msp
    mrsne   r0, psp
    b       svc_dispatch
    .size   SVC_Handler, . - SVC_Handler

/*
 * void sched_run(void): run the threads until they have all exited.
 * PendSV switches away from here and, once no thread is left, returns
 * right after the ISB. The threads never restore main()'s r4-r11, so they
 * are saved here around the whole excursion.
 */
    .global sched_run
    .type   sched_run, %function
    .thumb_func
sched_run:
    push    {r4-r11, lr}
    ldr     r0, =ICSR
    mov     r1, #ICSR_PENDSVSET
    str     r1, [r0]
    dsb
    isb
    pop     {r4-r11, pc}
    .size   sched_run, . - sched_run

/*
 * unsigned wait_turn(volatile unsigned *turn, unsigned me, unsigned seed)
 *
 * Spins until *turn == me with r3-r12 and LR holding values derived from
 * seed, then returns how many of them changed. The spin is where threads
 * get preempted, so a context switch that loses any register shows up as
 * a non-zero result. (r0-r2 are in use; a corrupted r0 or r1 would hang
 * or end the loop early, which the output would also show.)
 */
    .macro  fill reg, pattern
    eor     \reg, r2, #\pattern
    .endm
    .macro  check reg, pattern
    eor     \reg, \reg, #\pattern
    cmp     \reg, r2
    it      ne
    addne   r0, r0, #1
    .endm

    .global wait_turn
    .type   wait_turn, %function
    .thumb_func
wait_turn:
    push    {r2, r4-r11, lr}        /* ten words, seed at [sp] */
    fill    r3,  0x33333333
    fill    r4,  0x44444444
    fill    r5,  0x55555555
    fill    r6,  0x66666666
    fill    r7,  0x77777777
    fill    r8,  0x88888888
    fill    r9,  0x99999999
    fill    r10, 0xAAAAAAAA
    fill    r11, 0xBBBBBBBB
    fill    r12, 0xCCCCCCCC
    fill    lr,  0xEEEEEEEE
3:  ldr     r2, [r0]
    cmp     r2, r1
    bne     3b
    ldr     r2, [sp]
    movs    r0, #0
    check   r3,  0x33333333
    check   r4,  0x44444444
    check   r5,  0x55555555
    check   r6,  0x66666666
    check   r7,  0x77777777
    check   r8,  0x88888888
    check   r9,  0x99999999
    check   r10, 0xAAAAAAAA
    check   r11, 0xBBBBBBBB
    check   r12, 0xCCCCCCCC
    check   lr,  0xEEEEEEEE
    pop     {r2, r4-r11, pc}
    .size   wait_turn, . - wait_turn
