//! Ensemble: a full-system emulator for ARM devices in virtual time.

pub mod board;
pub mod boot;
pub mod bus;
pub mod cli;
pub mod cpu;
pub mod fleet;
pub mod frontend;
pub mod gdb;
pub mod loader;
pub mod machine;
pub mod net;
pub mod scenario;
pub mod testrun;
pub mod time;
pub mod trace;
pub mod watch;
pub mod world;
