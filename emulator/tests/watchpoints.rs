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
    machine_on("mps2-an385", image_name)
}

fn machine_on(board: &str, image_name: &str) -> (Machine, Image) {
    let image = Image::load(&common::image(image_name)).unwrap();
    let m = Machine::new(Board::load(board).unwrap(), image.clone(), Trace::off()).unwrap();
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

/// Run on, stepping over the hits of instructions (`Machine::at_watch_hit`),
/// to the next other stop.
fn run_past_instruction_hits(m: &mut Machine, console: &mut Vec<u8>) -> StopReason {
    for _ in 0..10_000 {
        let stop = run_to_stop(m, console);
        if let StopReason::Watchpoint { pc, .. } = stop {
            assert_eq!(m.pc(), pc);
            if m.at_watch_hit() {
                // An instruction's access: make it and go on.
                assert!(matches!(m.step(), StopReason::Stepped { .. }));
                continue;
            }
        }
        return stop;
    }
    panic!("only watchpoint hits by instructions");
}

/// The next hit by an exception entry or return: its pc and hit.
fn run_to_frame_hit(m: &mut Machine, console: &mut Vec<u8>) -> (u32, WatchHit) {
    match run_past_instruction_hits(m, console) {
        StopReason::Watchpoint { pc, hit } => (pc, hit),
        stop => panic!("expected a watchpoint, got {stop:?}"),
    }
}

/// The stack frame an exception entry pushes when `handler` is entered
/// the first time: the SP at its first instruction.
fn first_frame(board: &str, image_name: &str, handler: &str) -> (u32, u32) {
    let (mut m, image) = machine_on(board, image_name);
    let handler = image.symbol(handler).unwrap() as u32 & !1;
    m.set_breakpoint(handler).unwrap();
    let stop = run_to_stop(&mut m, &mut Vec::new());
    assert_eq!(stop, StopReason::Breakpoint { pc: handler });
    (m.read_register(13).unwrap(), handler)
}

fn ipsr(m: &mut Machine) -> u32 {
    m.read_register(16).unwrap() & 0x1ff
}

use ensemble::watch::WatchHit;

#[test]
fn exception_stacking_and_unstacking_hit_watchpoints_on_the_frame() {
    // timer1's handler (IRQ9) interrupts the thread busy-waiting in
    // scenario 1; its frame is on the main stack. Word 6 is the stacked
    // return address.
    let (frame, handler) = first_frame("mps2-an385", "irq-nesting", "IRQ9_Handler");
    let slot = frame + 24;

    // Stacking writes the slot: reported at the handler's first
    // instruction, the frame pushed and the handler's exception active.
    let (mut m, image) = machine("irq-nesting");
    m.set_watchpoint(slot, 4, WatchKind::Write).unwrap();
    let mut console = Vec::new();
    let (pc, hit) = run_to_frame_hit(&mut m, &mut console);
    assert_eq!((pc, hit.addr, hit.kind), (handler, slot, WatchKind::Write));
    assert_eq!(ipsr(&mut m), 16 + 9);
    assert_eq!(m.read_register(13), Some(frame));
    let ret = word(&m, slot);
    let thread = image.symbolize(ret as u64).unwrap();
    assert!(
        thread.starts_with("scenario_preemption+") || thread.starts_with("main+"),
        "stacked return address {ret:#x} ({thread})"
    );
    // Nothing is left to make: continuing runs the handler, and the next
    // stop is elsewhere (the entry does not hit again).
    let stop = run_to_stop(&mut m, &mut console);
    assert_ne!(stop, StopReason::Watchpoint { pc, hit });
    assert_ne!(m.pc(), handler);

    // Unstacking reads it: reported where the return went back to, in
    // thread mode.
    let (mut m, _) = machine("irq-nesting");
    m.set_watchpoint(slot, 4, WatchKind::Read).unwrap();
    let mut console = Vec::new();
    let (pc, hit) = run_to_frame_hit(&mut m, &mut console);
    assert_eq!((pc, hit.addr, hit.kind), (ret, slot, WatchKind::Read));
    assert_eq!(ipsr(&mut m), 0);
    assert_eq!(m.read_register(13), Some(frame + 0x20));

    // An access watchpoint (on the stacked xPSR) sees both, in order. With
    // a breakpoint set, entry and return are made by the run loop rather
    // than in the engine; a breakpoint on the handler's first instruction
    // still stops there, after the watchpoint.
    let (mut m, _) = machine("irq-nesting");
    m.set_watchpoint(frame + 28, 4, WatchKind::Access).unwrap();
    m.set_breakpoint(handler).unwrap();
    let mut console = Vec::new();
    let (pc, hit) = run_to_frame_hit(&mut m, &mut console);
    assert_eq!(
        (pc, hit.addr, hit.kind),
        (handler, frame + 28, WatchKind::Access)
    );
    let stop = run_past_instruction_hits(&mut m, &mut console);
    assert_eq!(stop, StopReason::Breakpoint { pc: handler });
    let (pc, hit) = run_to_frame_hit(&mut m, &mut console);
    assert_eq!(
        (pc, hit.addr, hit.kind),
        (ret, frame + 28, WatchKind::Access)
    );
}

#[test]
fn watching_stack_frames_to_the_end_changes_nothing() {
    let (mut plain, _) = machine("irq-nesting");
    let mut expected = Vec::new();
    let end = run_to_stop(&mut plain, &mut expected);
    assert!(matches!(end, StopReason::Asleep { .. }), "{end:?}");

    // Every entry and return that uses this frame (scenario 1's, and the
    // software-triggered interrupts taken at the same stack depth) stops
    // once, and each time the guest goes on as it would.
    let (frame, _) = first_frame("mps2-an385", "irq-nesting", "IRQ9_Handler");
    let (mut m, image) = machine("irq-nesting");
    m.set_watchpoint(frame + 24, 4, WatchKind::Access).unwrap();
    let mut console = Vec::new();
    let (mut entries, mut returns) = (0, 0);
    let end = loop {
        let stop = run_to_stop(&mut m, &mut console);
        let StopReason::Watchpoint { pc, .. } = stop else {
            break stop;
        };
        if m.at_watch_hit() {
            assert!(matches!(m.step(), StopReason::Stepped { .. }));
        } else if ipsr(&mut m) != 0 {
            // At a handler's first instruction.
            let at = image.symbolize(pc as u64).unwrap();
            assert!(at.ends_with("_Handler+0x0"), "{at}");
            entries += 1;
        } else {
            returns += 1;
        }
        assert!(entries + returns < 1000, "stops again and again");
    };
    assert!(matches!(end, StopReason::Asleep { .. }), "{end:?}");
    assert!(
        entries >= 2 && returns >= 2,
        "{entries} entries, {returns} returns"
    );
    assert_eq!(
        String::from_utf8_lossy(&console),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn the_extended_frame_of_an_fp_context_is_watched_too() {
    // fpu-context's IRQ30 interrupts main() while S0-S31 and FPSCR hold
    // known values: its frame is the 26-word one (EXC_RETURN bit 4 clear)
    // with the thread's FPSCR at +0x60 and S0 at +0x20.
    let board = "mps2-an386";
    let (frame, handler) = first_frame(board, "fpu-context", "IRQ30_Handler");
    let (mut m, _) = machine_on(board, "fpu-context");
    m.set_watchpoint(frame + 0x60, 4, WatchKind::Write).unwrap();
    let mut console = Vec::new();
    let (pc, hit) = run_to_frame_hit(&mut m, &mut console);
    assert_eq!(
        (pc, hit.addr, hit.kind),
        (handler, frame + 0x60, WatchKind::Write)
    );
    assert_eq!(m.read_register(14).unwrap() & 0x10, 0, "an extended frame");
    // The thread's FPSCR (round towards zero) is stacked when reported.
    assert_eq!(word(&m, frame + 0x60) >> 22 & 3, 3);

    // The return reads S0's slot back.
    let (mut m, _) = machine_on(board, "fpu-context");
    m.set_watchpoint(frame + 0x20, 4, WatchKind::Read).unwrap();
    let (pc, hit) = run_to_frame_hit(&mut m, &mut console);
    assert_eq!((hit.addr, hit.kind), (frame + 0x20, WatchKind::Read));
    assert_eq!(ipsr(&mut m), 0);
    assert_eq!(word(&m, frame + 24), pc);

    // The same, single-stepping through the handler (which reads the
    // slot itself too, to check it): the step that returns stops there.
    let (mut m, _) = machine_on(board, "fpu-context");
    m.set_breakpoint(handler).unwrap();
    let stop = run_to_stop(&mut m, &mut console);
    assert_eq!(stop, StopReason::Breakpoint { pc: handler });
    m.set_watchpoint(frame + 0x20, 4, WatchKind::Read).unwrap();
    let (mut by_instructions, mut steps) = (0, 0);
    let (pc, hit) = loop {
        steps += 1;
        assert!(steps < 10_000, "the handler never returned");
        match m.step() {
            StopReason::Stepped { .. } => {}
            StopReason::Watchpoint { .. } if m.at_watch_hit() => by_instructions += 1,
            StopReason::Watchpoint { pc, hit } => break (pc, hit),
            stop => panic!("{stop:?}"),
        }
    };
    assert!(by_instructions > 0);
    assert_eq!((hit.addr, hit.kind), (frame + 0x20, WatchKind::Read));
    assert_eq!(ipsr(&mut m), 0);
    assert_eq!(word(&m, frame + 24), pc);
}
