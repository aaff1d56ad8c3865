/*
 * a64-counter's entry: an arm64 Linux Image header, so that
 * `ensemble run --board aarch64-virt --kernel a64-counter.bin` boots it as
 * it boots Linux (Documentation/arch/arm64/booting.rst: loaded at RAM base
 * + text_offset, entered at EL1 with the MMU off, x0 = the device tree),
 * then a stack, a cleared .bss, FP/SIMD enabled, the vector table, main()
 * and PSCI SYSTEM_OFF. Only the synchronous exception (SVC) and the IRQ
 * taken from EL1 have handlers; any other exception is reported and powers
 * the machine off.
 */
	.section .text.head, "ax"
	.globl	_head
_head:
	b	_start			// code0
	.long	0			// code1
	.quad	0x80000			// text_offset
	.quad	_image_size		// image_size
	.quad	0			// flags: little-endian, no placement needs
	.quad	0, 0, 0			// res2-res4
	.ascii	"ARM\x64"		// magic
	.long	0			// res5

	.text
	.globl	_start
	.type	_start, %function
_start:
	adrp	x1, __stack_top
	add	x1, x1, :lo12:__stack_top
	mov	sp, x1
	adrp	x1, __bss_start
	add	x1, x1, :lo12:__bss_start
	adrp	x2, __bss_end
	add	x2, x2, :lo12:__bss_end
1:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	1b
2:	adrp	x1, vectors
	add	x1, x1, :lo12:vectors
	msr	vbar_el1, x1
	mov	x1, #(3 << 20)		// CPACR_EL1.FPEN: no FP/SIMD traps
	msr	cpacr_el1, x1
	isb
	bl	main
	b	system_off
	.size	_start, . - _start

/* PSCI SYSTEM_OFF through the hypervisor call the device tree names. */
	.globl	system_off
	.type	system_off, %function
system_off:
	movz	x0, #0x0008
	movk	x0, #0x8400, lsl #16
	hvc	#0
3:	wfi
	b	3b
	.size	system_off, . - system_off

/* A system call to the handler below: the debugger tests step into it. */
	.globl	call_svc
	.type	call_svc, %function
call_svc:
	svc	#0x42
	ret
	.size	call_svc, . - call_svc

/* Wait for the interrupt main armed: IRQs unmasked around one WFI (the
   timer fires long after it). The debugger tests step over the WFI. */
	.globl	wait_for_irq
	.type	wait_for_irq, %function
wait_for_irq:
	msr	daifclr, #2
	.globl	irq_wfi
irq_wfi:
	wfi
	msr	daifset, #2
	ret
	.size	wait_for_irq, . - wait_for_irq

	.macro	ventry target
	.balign	128
	b	\target
	.endm

	.section .text.vectors, "ax"
	.balign	2048
	.globl	vectors
vectors:
	ventry	unexpected		// current EL with SP_EL0: sync
	ventry	unexpected		//   IRQ
	ventry	unexpected		//   FIQ
	ventry	unexpected		//   SError
	ventry	sync_el1h		// current EL with SP_ELx: sync (0x200)
	ventry	irq_el1h		//   IRQ (0x280)
	ventry	unexpected		//   FIQ
	ventry	unexpected		//   SError
	ventry	unexpected		// lower EL, AArch64
	ventry	unexpected
	ventry	unexpected
	ventry	unexpected
	ventry	unexpected		// lower EL, AArch32
	ventry	unexpected
	ventry	unexpected
	ventry	unexpected

	.text
/* The exception handlers' C parts may use the caller-saved registers: they
   are kept on the stack around the call, and the handler returns with ERET
   (after the SVC, or to the interrupted instruction). */
	.macro	handler name, function, arg
	.type	\name, %function
\name:
	sub	sp, sp, #(20 * 8)
	stp	x0, x1, [sp, #(0 * 8)]
	stp	x2, x3, [sp, #(2 * 8)]
	stp	x4, x5, [sp, #(4 * 8)]
	stp	x6, x7, [sp, #(6 * 8)]
	stp	x8, x9, [sp, #(8 * 8)]
	stp	x10, x11, [sp, #(10 * 8)]
	stp	x12, x13, [sp, #(12 * 8)]
	stp	x14, x15, [sp, #(14 * 8)]
	stp	x16, x17, [sp, #(16 * 8)]
	stp	x18, x30, [sp, #(18 * 8)]
	mrs	x0, \arg
	bl	\function
	ldp	x0, x1, [sp, #(0 * 8)]
	ldp	x2, x3, [sp, #(2 * 8)]
	ldp	x4, x5, [sp, #(4 * 8)]
	ldp	x6, x7, [sp, #(6 * 8)]
	ldp	x8, x9, [sp, #(8 * 8)]
	ldp	x10, x11, [sp, #(10 * 8)]
	ldp	x12, x13, [sp, #(12 * 8)]
	ldp	x14, x15, [sp, #(14 * 8)]
	ldp	x16, x17, [sp, #(16 * 8)]
	ldp	x18, x30, [sp, #(18 * 8)]
	add	sp, sp, #(20 * 8)
	eret
	.size	\name, . - \name
	.endm

	handler	sync_el1h, on_sync, esr_el1
	handler	irq_el1h, on_irq, elr_el1

	.type	unexpected, %function
unexpected:
	mrs	x0, esr_el1
	mrs	x1, elr_el1
	bl	on_unexpected
	b	system_off
	.size	unexpected, . - unexpected
