/*
 * Faulting instructions for the faults image, each at a global label so
 * that the fault handler can check the stacked PC exactly. The handler
 * resumes after the faulting instruction, so each function then returns
 * normally (with r0 unchanged where the instruction did not complete).
 */
    .syntax unified
    .thumb
    .text

    .macro  fault_fn name
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    .endm

/* void fault_udf(void): a permanently undefined instruction. */
    fault_fn fault_udf
    .global fault_udf_pc
fault_udf_pc:
    udf     #0
    bx      lr
    .size   fault_udf, . - fault_udf

/* uint32_t fault_load(uint32_t addr): one word load. */
    fault_fn fault_load
    .global fault_load_pc
fault_load_pc:
    ldr     r0, [r0]
    bx      lr
    .size   fault_load, . - fault_load

/* uint32_t fault_udiv(uint32_t a, uint32_t b): a / b. */
    fault_fn fault_udiv
    .global fault_udiv_pc
fault_udiv_pc:
    udiv    r0, r0, r1
    bx      lr
    .size   fault_udiv, . - fault_udiv

/*
 * void fault_call(uint32_t target): BLX to target. Used with targets that
 * fault on their first instruction; the handler then resumes at the
 * return address in the stacked LR.
 */
    fault_fn fault_call
    push    {r4, lr}
    blx     r0
    pop     {r4, pc}
    .size   fault_call, . - fault_call

/* A harmless function to branch to in ARM state (BX with bit 0 clear). */
    fault_fn fault_target
    bx      lr
    .size   fault_target, . - fault_target
