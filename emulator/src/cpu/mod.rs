//! The CPU layer: Unicorn as the instruction engine, and the parts of the
//! core that Unicorn does not model (exceptions, the NVIC, SysTick).

pub mod aarch64;
pub mod cortex_m;
pub mod scs;
