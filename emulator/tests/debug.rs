//! The machine's debugger interface, as the GDB server uses it.

mod common;

use ensemble::board::Board;
use ensemble::loader::Image;
use ensemble::machine::{Machine, StopReason};
use ensemble::trace::Trace;

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

fn run_to_stop(m: &mut Machine) -> StopReason {
    loop {
        match m.run(u64::MAX) {
            StopReason::Output => continue,
            other => return other,
        }
    }
}

#[test]
fn breakpoint_step_registers_and_memory() {
    let (mut m, image) = machine("hello-an385");
    let main = image.symbol("main").unwrap() as u32 & !1;
    m.set_breakpoint(main).unwrap();
    assert_eq!(run_to_stop(&mut m), StopReason::Breakpoint { pc: main });
    assert_eq!(m.read_register(15), Some(main));
    // Nothing of main ran yet: no output.
    assert!(m.take_output("uart0").is_empty());

    // Stepping moves on by one instruction (2 or 4 bytes here).
    let StopReason::Stepped { pc } = m.step() else {
        panic!("expected a step")
    };
    assert!(
        pc == main + 2 || pc == main + 4,
        "pc {pc:#x} after main {main:#x}"
    );

    // Registers and memory can be changed.
    m.write_register(4, 0x1234_5678);
    assert_eq!(m.read_register(4), Some(0x1234_5678));
    let vectors = m.read_memory(0, 8).unwrap();
    assert_eq!(vectors, image.segments[0].data[..8].to_vec());
    assert!(m.write_memory(0x2000_0000, b"gdb!"));
    assert_eq!(m.read_memory(0x2000_0000, 4).unwrap(), b"gdb!");
    // Thread mode, privileged, main stack: CONTROL 0, MSP is SP.
    assert_eq!(m.read_register(22), Some(0));
    assert_eq!(m.read_register(17), m.read_register(13));

    // Continue: the breakpoint does not fire again; the image finishes.
    m.clear_breakpoint(main);
    let mut out = Vec::new();
    let stop = loop {
        let s = m.run(u64::MAX);
        out.extend(m.take_output("uart0"));
        if s != StopReason::Output {
            break s;
        }
    };
    assert!(matches!(stop, StopReason::Asleep { .. }), "{stop:?}");
    assert!(String::from_utf8_lossy(&out).contains("hello: done"));
}

#[test]
fn resuming_from_a_breakpoint_runs_the_instruction_once() {
    let (mut m, image) = machine("irq-nesting");
    // A handler that runs several times: each continue stops there again.
    let handler = image.symbol("SysTick_Handler").unwrap() as u32 & !1;
    m.set_breakpoint(handler).unwrap();
    for _ in 0..3 {
        assert_eq!(run_to_stop(&mut m), StopReason::Breakpoint { pc: handler });
        // In handler mode, on the SysTick exception.
        assert_eq!(m.read_register(16).unwrap() & 0x1ff, 15);
    }
}
