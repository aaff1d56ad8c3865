//! Watchpoints through the machine's debugger interface: where a hit
//! stops, what memory holds then, and that watching does not change what
//! the guest does.

mod common;

use ensemble::board::Board;
use ensemble::loader::Image;
use ensemble::machine::{Machine, StopReason};
use ensemble::trace::Trace;
use ensemble::watch::WatchKind;

fn machine(image_name: &str) -> (Machine, Image) {
    let image = Image::load(&common::image(image_name)).unwrap();
    let m = Machine::new(
        Board::load("mps2-an385").unwrap(),
        image.clone(),
        Trace::off(),
    )
    .unwrap();
    (m, image)
}

/// Run until something other than output; the console is collected.
fn run_to_stop(m: &mut Machine, console: &mut Vec<u8>) -> StopReason {
    loop {
        let stop = m.run(u64::MAX);
        console.extend(m.take_output("uart0"));
        if stop != StopReason::Output {
            return stop;
        }
    }
}

fn word(m: &Machine, addr: u32) -> u32 {
    u32::from_le_bytes(m.read_memory(addr, 4).unwrap().try_into().unwrap())
}

#[test]
fn a_write_stops_before_the_store_and_a_step_makes_it() {
    let (mut plain, _) = machine("irq-nesting");
    let mut expected = Vec::new();
    let end = run_to_stop(&mut plain, &mut expected);
    assert!(matches!(end, StopReason::Asleep { .. }), "{end:?}");

    let (mut m, image) = machine("irq-nesting");
    let calls = image.symbol("systick_calls").unwrap() as u32;
    let handler = image.symbol("SysTick_Handler").unwrap() as u32 & !1;
    m.set_watchpoint(calls, 4, WatchKind::Write).unwrap();
    let mut console = Vec::new();
    // The SysTick handler's increments, 0 -> 1 -> 2 -> 3 (and the thread's
    // resets to 0 in between, which are writes too).
    let mut increments = 0;
    while increments < 3 {
        let stop = run_to_stop(&mut m, &mut console);
        let StopReason::Watchpoint { pc, hit } = stop else {
            panic!("expected a watchpoint, got {stop:?}");
        };
        assert_eq!((hit.addr, hit.kind), (calls, WatchKind::Write));
        assert_eq!(m.pc(), pc);
        assert!(m.at_watch_hit());
        let before = word(&m, calls);
        // Stopped on the store, which has not happened; running on would
        // stop there again: a step makes the store and moves past it.
        let insn = u16::from_le_bytes(m.read_memory(pc, 2).unwrap().try_into().unwrap());
        let len = if insn >= 0xe800 { 4 } else { 2 };
        assert_eq!(m.step(), StopReason::Stepped { pc: pc + len });
        assert!(!m.at_watch_hit());
        let after = word(&m, calls);
        if (handler..handler + 0x80).contains(&pc) {
            assert_eq!(after, before + 1, "at {pc:#x}");
            increments += 1;
        } else {
            assert_eq!(after, 0, "a reset at {pc:#x}");
        }
    }
    // Without the watchpoint (its hook stays, idle) the guest finishes as
    // it does unwatched.
    assert!(m.clear_watchpoint(calls, 4, WatchKind::Write));
    let end = run_to_stop(&mut m, &mut console);
    assert!(matches!(end, StopReason::Asleep { .. }), "{end:?}");
    assert_eq!(
        String::from_utf8_lossy(&console),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn reads_and_accesses() {
    let (mut m, image) = machine("hello-an385");
    let initialised = image.symbol("initialised").unwrap() as u32;
    m.set_watchpoint(initialised, 4, WatchKind::Read).unwrap();
    let mut console = Vec::new();
    // The reset handler copies .data from flash (a write: not watched),
    // then main reads the variable to check it.
    let stop = run_to_stop(&mut m, &mut console);
    let StopReason::Watchpoint { pc, hit } = stop else {
        panic!("expected a watchpoint, got {stop:?}");
    };
    assert_eq!((hit.addr, hit.kind), (initialised, WatchKind::Read));
    assert!(image.symbolize(pc as u64).unwrap().starts_with("main+"));
    assert_eq!(word(&m, initialised), 0x600d_da7a);
    assert!(matches!(m.step(), StopReason::Stepped { .. }));
    m.clear_watchpoints();
    // An access watchpoint on a word nobody touches never fires.
    m.set_watchpoint(initialised + 0x100, 4, WatchKind::Access)
        .unwrap();
    let end = run_to_stop(&mut m, &mut console);
    assert!(matches!(end, StopReason::Asleep { .. }), "{end:?}");
    assert!(String::from_utf8_lossy(&console).contains("hello: .data ok, .bss ok"));
}
