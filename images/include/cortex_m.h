/*
 * Cortex-M3/M4 architectural registers (ARMv7-M System Control Space) and
 * the handful of special-register accessors the test images need.
 *
 * Everything here is defined by the ARMv7-M Architecture Reference Manual
 * (chapter B3, "System Address Map"); nothing is board specific. Register
 * blocks are described as structs laid out at their fixed addresses so that
 * a reader can check offsets against the manual line by line.
 */
#ifndef ENSEMBLE_CORTEX_M_H
#define ENSEMBLE_CORTEX_M_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* ---- System Control Block, 0xE000_ED00 -------------------------------- */

struct scb {
    volatile uint32_t cpuid;    /* 0x00 implementer/variant/part/revision   */
    volatile uint32_t icsr;     /* 0x04 interrupt control and state         */
    volatile uint32_t vtor;     /* 0x08 vector table offset                 */
    volatile uint32_t aircr;    /* 0x0C reset control, PRIGROUP, endianness */
    volatile uint32_t scr;      /* 0x10 sleep control                       */
    volatile uint32_t ccr;      /* 0x14 configuration and control           */
    volatile uint8_t  shpr[12]; /* 0x18 priorities of exceptions 4..15      */
    volatile uint32_t shcsr;    /* 0x24 system handler control and state    */
    volatile uint32_t cfsr;     /* 0x28 MMFSR[7:0] BFSR[15:8] UFSR[31:16]   */
    volatile uint32_t hfsr;     /* 0x2C HardFault status                    */
    volatile uint32_t dfsr;     /* 0x30 debug fault status                  */
    volatile uint32_t mmfar;    /* 0x34 MemManage fault address             */
    volatile uint32_t bfar;     /* 0x38 BusFault address                    */
    volatile uint32_t afsr;     /* 0x3C auxiliary fault status              */
    volatile uint32_t id[18];   /* 0x40 CPUID scheme (PFR, DFR, MMFR, ISAR) */
    volatile uint32_t cpacr;    /* 0x88 coprocessor access control          */
};

_Static_assert(__builtin_offsetof(struct scb, cpacr) == 0x88, "SCB layout");

#define SCB ((struct scb *)0xE000ED00u)

/* Shorthand for the priority byte of system exception n (4..15). */
#define SCB_SHPR(n) (SCB->shpr[(n) - 4])

/* ICSR */
#define ICSR_VECTACTIVE_MASK   0x000001FFu  /* = IPSR of the running handler */
#define ICSR_RETTOBASE         (1u << 11)   /* no other exception is active  */
#define ICSR_VECTPENDING_SHIFT 12
#define ICSR_VECTPENDING_MASK  (0x1FFu << ICSR_VECTPENDING_SHIFT)
#define ICSR_ISRPENDING        (1u << 22)   /* an external IRQ is pending    */
#define ICSR_PENDSTCLR         (1u << 25)
#define ICSR_PENDSTSET         (1u << 26)
#define ICSR_PENDSVCLR         (1u << 27)
#define ICSR_PENDSVSET         (1u << 28)
#define ICSR_NMIPENDSET        (1u << 31)

/* AIRCR: writes are ignored unless bits [31:16] hold the key. */
#define AIRCR_VECTKEY          (0x05FAu << 16)
#define AIRCR_SYSRESETREQ      (1u << 2)
#define AIRCR_PRIGROUP_SHIFT   8
#define AIRCR_PRIGROUP_MASK    (7u << AIRCR_PRIGROUP_SHIFT)

/* SCR */
#define SCR_SLEEPONEXIT        (1u << 1)
#define SCR_SLEEPDEEP          (1u << 2)
#define SCR_SEVONPEND          (1u << 4)

/* CCR */
#define CCR_NONBASETHRDENA     (1u << 0)
#define CCR_USERSETMPEND       (1u << 1)
#define CCR_UNALIGN_TRP        (1u << 3)
#define CCR_DIV_0_TRP          (1u << 4)
#define CCR_BFHFNMIGN          (1u << 8)
#define CCR_STKALIGN           (1u << 9)   /* 8-byte aligned exception frames */

/* SHCSR: fault enables and active/pending status of system handlers. */
#define SHCSR_MEMFAULTACT      (1u << 0)
#define SHCSR_BUSFAULTACT      (1u << 1)
#define SHCSR_USGFAULTACT      (1u << 3)
#define SHCSR_SVCALLACT        (1u << 7)
#define SHCSR_PENDSVACT        (1u << 10)
#define SHCSR_SYSTICKACT       (1u << 11)
#define SHCSR_MEMFAULTENA      (1u << 16)
#define SHCSR_BUSFAULTENA      (1u << 17)
#define SHCSR_USGFAULTENA      (1u << 18)

/* CFSR, MemManage part (bits 7:0) */
#define CFSR_IACCVIOL          (1u << 0)
#define CFSR_DACCVIOL          (1u << 1)
#define CFSR_MUNSTKERR         (1u << 3)
#define CFSR_MSTKERR           (1u << 4)
#define CFSR_MLSPERR           (1u << 5)
#define CFSR_MMARVALID         (1u << 7)
/* CFSR, BusFault part (bits 15:8) */
#define CFSR_IBUSERR           (1u << 8)
#define CFSR_PRECISERR         (1u << 9)
#define CFSR_IMPRECISERR       (1u << 10)
#define CFSR_UNSTKERR          (1u << 11)
#define CFSR_STKERR            (1u << 12)
#define CFSR_LSPERR            (1u << 13)
#define CFSR_BFARVALID         (1u << 15)
/* CFSR, UsageFault part (bits 31:16) */
#define CFSR_UNDEFINSTR        (1u << 16)
#define CFSR_INVSTATE          (1u << 17)
#define CFSR_INVPC             (1u << 18)
#define CFSR_NOCP              (1u << 19)
#define CFSR_UNALIGNED         (1u << 24)
#define CFSR_DIVBYZERO         (1u << 25)

/* HFSR */
#define HFSR_VECTTBL           (1u << 1)
#define HFSR_FORCED            (1u << 30)  /* escalated from a disabled fault */
#define HFSR_DEBUGEVT          (1u << 31)

/* CPACR: CP10 and CP11 (the FPU) are bits 23:20; 0b11 = full access. */
#define CPACR_CP10_CP11_FULL   (0xFu << 20)

/* ---- Interrupt Controller Type, 0xE000_E004 ---------------------------- */

#define ICTR REG32(0xE000E004u)  /* INTLINESNUM: (ICTR & 0xF) + 1 groups of 32 */

/* ---- SysTick, 0xE000_E010 ---------------------------------------------- */

struct systick {
    volatile uint32_t ctrl;   /* 0x00 */
    volatile uint32_t load;   /* 0x04 reload value, 24 bits */
    volatile uint32_t val;    /* 0x08 current value; any write clears it */
    volatile uint32_t calib;  /* 0x0C reference ticks per 10 ms + flags */
};

#define SYSTICK ((struct systick *)0xE000E010u)

#define SYSTICK_CTRL_ENABLE    (1u << 0)
#define SYSTICK_CTRL_TICKINT   (1u << 1)
#define SYSTICK_CTRL_CLKSOURCE (1u << 2)   /* 1 = processor clock, 0 = reference */
#define SYSTICK_CTRL_COUNTFLAG (1u << 16)  /* cleared by reading CTRL */
#define SYSTICK_CALIB_TENMS    0x00FFFFFFu
#define SYSTICK_CALIB_SKEW     (1u << 30)
#define SYSTICK_CALIB_NOREF    (1u << 31)

/* ---- NVIC, 0xE000_E100 ------------------------------------------------- */

struct nvic {
    volatile uint32_t iser[16];      /* 0x100 set-enable        */
    uint32_t reserved0[16];
    volatile uint32_t icer[16];      /* 0x180 clear-enable      */
    uint32_t reserved1[16];
    volatile uint32_t ispr[16];      /* 0x200 set-pending       */
    uint32_t reserved2[16];
    volatile uint32_t icpr[16];      /* 0x280 clear-pending     */
    uint32_t reserved3[16];
    volatile uint32_t iabr[16];      /* 0x300 active bit (RO)   */
    uint32_t reserved4[48];
    volatile uint8_t  ipr[496];      /* 0x400 one priority byte per IRQ */
};

_Static_assert(__builtin_offsetof(struct nvic, iabr) == 0x200, "NVIC layout");
_Static_assert(__builtin_offsetof(struct nvic, ipr) == 0x300, "NVIC layout");

#define NVIC ((struct nvic *)0xE000E100u)

/* Software Trigger Interrupt Register: writing n pends IRQ n. */
#define NVIC_STIR REG32(0xE000EF00u)

/* ---- FPU (Cortex-M4F only), 0xE000_EF34 -------------------------------- */

struct fpu {
    volatile uint32_t fpccr;   /* 0x34 FP context control  */
    volatile uint32_t fpcar;   /* 0x38 address of the reserved S0-S15/FPSCR space */
    volatile uint32_t fpdscr;  /* 0x3C FPSCR value given to new FP contexts */
};

#define FPU ((struct fpu *)0xE000EF34u)

#define FPCCR_LSPACT  (1u << 0)   /* lazy save pending: space reserved, not written */
#define FPCCR_USER    (1u << 1)
#define FPCCR_THREAD  (1u << 3)
#define FPCCR_HFRDY   (1u << 4)
#define FPCCR_MMRDY   (1u << 5)
#define FPCCR_BFRDY   (1u << 6)
#define FPCCR_MONRDY  (1u << 8)
#define FPCCR_LSPEN   (1u << 30)  /* lazy stacking enabled */
#define FPCCR_ASPEN   (1u << 31)  /* set CONTROL.FPCA on FP use, stack FP on entry */

/* ---- CONTROL and EXC_RETURN -------------------------------------------- */

#define CONTROL_NPRIV (1u << 0)   /* thread mode is unprivileged */
#define CONTROL_SPSEL (1u << 1)   /* thread mode uses PSP */
#define CONTROL_FPCA  (1u << 2)   /* an FP context is active */

/*
 * EXC_RETURN values found in LR on exception entry. Bit 2 selects the stack
 * the frame was pushed on (1 = PSP), bit 3 the mode returned to (1 = Thread),
 * bit 4 the frame size (0 = extended frame holding S0-S15 and FPSCR).
 */
#define EXC_RETURN_HANDLER_MSP     0xFFFFFFF1u
#define EXC_RETURN_THREAD_MSP      0xFFFFFFF9u
#define EXC_RETURN_THREAD_PSP      0xFFFFFFFDu
#define EXC_RETURN_HANDLER_MSP_FP  0xFFFFFFE1u
#define EXC_RETURN_THREAD_MSP_FP   0xFFFFFFE9u
#define EXC_RETURN_THREAD_PSP_FP   0xFFFFFFEDu
#define EXC_RETURN_SPSEL           (1u << 2)
#define EXC_RETURN_THREAD          (1u << 3)
#define EXC_RETURN_STD_FRAME       (1u << 4)

/* Basic exception frame, as pushed by hardware (word offsets). */
enum frame_word {
    FRAME_R0, FRAME_R1, FRAME_R2, FRAME_R3, FRAME_R12, FRAME_LR, FRAME_PC, FRAME_XPSR,
    FRAME_WORDS
};

#define XPSR_T            (1u << 24)  /* Thumb state; must be set in any built frame */
#define XPSR_FRAME_ALIGN  (1u << 9)   /* in a stacked xPSR: 4 bytes of padding were added */

/* Exception numbers (IPSR values) of the system exceptions. */
enum exception_number {
    EXC_RESET = 1, EXC_NMI = 2, EXC_HARDFAULT = 3, EXC_MEMMANAGE = 4,
    EXC_BUSFAULT = 5, EXC_USAGEFAULT = 6, EXC_SVCALL = 11, EXC_DEBUGMON = 12,
    EXC_PENDSV = 14, EXC_SYSTICK = 15, EXC_IRQ0 = 16
};

/* ---- special registers and hint instructions --------------------------- */

static inline void cpu_irq_disable(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void cpu_irq_enable(void)  { __asm volatile("cpsie i" ::: "memory"); }
static inline void cpu_wfi(void)         { __asm volatile("wfi" ::: "memory"); }
static inline void cpu_dsb(void)         { __asm volatile("dsb" ::: "memory"); }
static inline void cpu_isb(void)         { __asm volatile("isb" ::: "memory"); }

/*
 * After a write that changes which exceptions may be taken (NVIC pend/enable,
 * ICSR, BASEPRI, CONTROL ...) the architecture only guarantees the effect is
 * visible to instructions after a DSB+ISB; the images use this pair so that
 * "the handler ran" happens at one well-defined point on every emulator.
 */
static inline void cpu_barrier(void) { cpu_dsb(); cpu_isb(); }

#define DEFINE_SPECIAL_REG(name)                                          \
    static inline uint32_t get_##name(void)                               \
    {                                                                     \
        uint32_t v;                                                       \
        __asm volatile("mrs %0, " #name : "=r"(v));                       \
        return v;                                                         \
    }                                                                     \
    static inline void set_##name(uint32_t v)                             \
    {                                                                     \
        __asm volatile("msr " #name ", %0" ::"r"(v) : "memory");          \
    }

DEFINE_SPECIAL_REG(primask)
DEFINE_SPECIAL_REG(basepri)
DEFINE_SPECIAL_REG(faultmask)
DEFINE_SPECIAL_REG(control)
DEFINE_SPECIAL_REG(psp)
DEFINE_SPECIAL_REG(msp)
#undef DEFINE_SPECIAL_REG

/* BASEPRI_MAX: the write only takes effect if it raises the masking level. */
static inline void set_basepri_max(uint32_t v)
{
    __asm volatile("msr basepri_max, %0" ::"r"(v) : "memory");
}

static inline uint32_t get_ipsr(void)
{
    uint32_t v;
    __asm volatile("mrs %0, ipsr" : "=r"(v));
    return v;
}

static inline uint32_t get_sp(void)
{
    uint32_t v;
    __asm volatile("mov %0, sp" : "=r"(v));
    return v;
}

/* ---- NVIC helpers ------------------------------------------------------- */

static inline void nvic_enable(unsigned irq)     { NVIC->iser[irq >> 5] = 1u << (irq & 31); }
static inline void nvic_disable(unsigned irq)    { NVIC->icer[irq >> 5] = 1u << (irq & 31); }
static inline void nvic_set_pending(unsigned irq){ NVIC->ispr[irq >> 5] = 1u << (irq & 31); }
static inline void nvic_clear_pending(unsigned irq) { NVIC->icpr[irq >> 5] = 1u << (irq & 31); }
static inline int  nvic_is_pending(unsigned irq) { return (NVIC->ispr[irq >> 5] >> (irq & 31)) & 1; }
static inline int  nvic_is_active(unsigned irq)  { return (NVIC->iabr[irq >> 5] >> (irq & 31)) & 1; }
static inline void nvic_set_priority(unsigned irq, uint8_t prio) { NVIC->ipr[irq] = prio; }

/* Set AIRCR.PRIGROUP: priority bits [PRIGROUP:0] become the subpriority. */
static inline void nvic_set_prigroup(unsigned prigroup)
{
    uint32_t v = SCB->aircr & ~(AIRCR_PRIGROUP_MASK | 0xFFFF0000u);
    SCB->aircr = v | AIRCR_VECTKEY | ((prigroup & 7u) << AIRCR_PRIGROUP_SHIFT);
}

#endif
