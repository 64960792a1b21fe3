//! Hooks applied to generated code, and to code other threads are running.

use super::*;
use iced_x86::FlowControl;

#[test]
fn refuses_branches_into_the_patched_bytes() {
    // endbr64; nop; nop; jmp back to +4 (inside the first 5 bytes).
    let code = [0xf3, 0x0f, 0x1e, 0xfa, 0x90, 0x90, 0xeb, 0xfc];
    let function = decode_function(&code, 0x1000).unwrap();
    let covered = covered(&function).unwrap();
    assert_eq!(covered.len(), 2);
    assert!(check_no_branch_into(&function, 0x1001..0x1005).is_err());
    // The same with the branch going to +0 (a fresh call) is fine.
    let code = [0xf3, 0x0f, 0x1e, 0xfa, 0x90, 0x90, 0xeb, 0xf8];
    let function = decode_function(&code, 0x1000).unwrap();
    assert!(check_no_branch_into(&function, 0x1001..0x1005).is_ok());
}

/// A function the small decoder refuses (here for a VEX instruction)
/// is decoded by iced-x86, with the same answers for the rest.
#[test]
fn functions_the_small_decoder_refuses_go_to_iced() {
    // endbr64; vzeroupper; mov eax, 1; jne -12 (to +0); ret
    let code = [
        0xf3, 0x0f, 0x1e, 0xfa, 0xc5, 0xf8, 0x77, 0xb8, 1, 0, 0, 0, 0x75, 0xf2, 0xc3,
    ];
    assert!(x86::decode_all(&code, 0x1000).is_none());
    let function = decode_function(&code, 0x1000).unwrap();
    let lens: Vec<usize> = function.iter().map(|(_, i)| i.len).collect();
    assert_eq!(lens, [4, 3, 5, 2, 1]);
    assert_eq!(function[3].1.flow, Flow::Jcc(0x1000));
    assert_eq!(function[4].1.flow, Flow::Other);
    // Without the VEX instruction both decoders agree.
    let plain: Vec<u8> = [&code[..4], &code[7..12], &[0xc3]].concat();
    let small = x86::decode_all(&plain, 0x1000).unwrap();
    assert_eq!(decode_function(&plain, 0x1000).unwrap(), small);
}

#[test]
fn refuses_functions_too_short_or_changed() {
    let code = [0xc3u8; 4];
    // SAFETY: `code` is readable memory of the length given.
    let short = unsafe { prepare(code.as_ptr() as usize, 4, &code, 0) };
    assert_eq!(short.err().unwrap().kind, HookErrorKind::TooShort);
    let code = [0x90u8; 16];
    // SAFETY: as above.
    let changed = unsafe { prepare(code.as_ptr() as usize, 16, &[0xc3; 16], 0) };
    assert_eq!(changed.err().unwrap().kind, HookErrorKind::Changed);
}

/// A fresh page holding `code`, made executable; its address.
fn executable(code: &[u8]) -> usize {
    assert!(code.len() <= PAGE);
    // SAFETY: a fresh anonymous mapping of PAGE bytes, written (code
    // fits) then made executable.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        std::ptr::copy_nonoverlapping(code.as_ptr(), p.cast::<u8>(), code.len());
        assert_eq!(
            libc::mprotect(p, PAGE, libc::PROT_READ | libc::PROT_EXEC),
            0
        );
        p as usize
    }
}

extern "C" fn original(x: i32) -> i32 {
    // Enough work that the function is longer than the jump.
    std::hint::black_box(x).wrapping_mul(3).wrapping_add(1)
}

extern "C" fn replacement(x: i32) -> i32 {
    let real: extern "C" fn(i32) -> i32 =
        // SAFETY: TRAMPOLINE holds the trampoline of `original`.
        unsafe { std::mem::transmute(TRAMPOLINE.load(std::sync::atomic::Ordering::SeqCst)) };
    real(x) + 1000
}

static TRAMPOLINE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn a_hooked_function_calls_the_handler_which_calls_the_original() {
    let target = std::hint::black_box(original as *const () as usize);
    // The function's bytes as the "file" has them: it is not patched.
    // SAFETY: the first 256 bytes from a function of this test binary
    // (its text segment goes on well past it).
    let bytes = unsafe { std::slice::from_raw_parts(target as *const u8, 256) }.to_vec();
    // The function ends at its first `ret` (decoded, not a byte search).
    let size = Decoder::with_ip(64, &bytes, 0, DecoderOptions::NONE)
        .into_iter()
        .find(|i| i.flow_control() == FlowControl::Return)
        .map(|ret| ret.next_ip() as usize)
        .expect("a ret within 256 bytes");
    // SAFETY: code of this binary, `size` bytes of it.
    let prepared = match unsafe {
        prepare(
            target,
            size,
            &bytes[..size],
            replacement as *const () as usize,
        )
    } {
        Ok(p) => p,
        Err(e) => panic!("cannot hook a plain function: {e}"),
    };
    TRAMPOLINE.store(prepared.trampoline, std::sync::atomic::Ordering::SeqCst);
    let call: extern "C" fn(i32) -> i32 = std::hint::black_box(original);
    assert_eq!(call(5), 16);
    // SAFETY: the prepared hook of `original`, still mapped.
    unsafe { apply(&prepared) }.unwrap();
    assert_eq!(call(5), 1016);
}

static RIP_TRAMPOLINE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn rip_replacement() -> usize {
    let real: extern "C" fn() -> usize =
        // SAFETY: RIP_TRAMPOLINE holds the trampoline of the generated
        // function, which takes nothing and returns an address.
        unsafe { std::mem::transmute(RIP_TRAMPOLINE.load(std::sync::atomic::Ordering::SeqCst)) };
    real()
}

/// A prologue with a RIP-relative operand (`lea rax, [rip + 0x100]`)
/// still computes the original address when it runs from the
/// trampoline, far from where it was written.
#[test]
fn rip_relative_prologues_are_relocated() {
    // endbr64; lea rax, [rip + 0x100]; ret; then int3 padding.
    let mut code = vec![
        0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x8d, 0x05, 0x00, 0x01, 0x00, 0x00, 0xc3,
    ];
    code.resize(32, 0xcc);
    let page = executable(&code);
    // The lea ends at +11: it yields page + 11 + 0x100.
    let expected = page + 11 + 0x100;
    // SAFETY: the page holds the function just written.
    let original: extern "C" fn() -> usize = unsafe { std::mem::transmute(page) };
    assert_eq!(original(), expected);
    // SAFETY: 12 bytes of readable code at `page`.
    let prepared = unsafe { prepare(page, 12, &code[..12], rip_replacement as *const () as usize) }
        .unwrap_or_else(|e| panic!("{e}"));
    RIP_TRAMPOLINE.store(prepared.trampoline, std::sync::atomic::Ordering::SeqCst);
    assert!(
        prepared.trampoline.abs_diff(page) > 0x100,
        "the trampoline is elsewhere"
    );
    // SAFETY: prepared for this mapped code.
    unsafe { apply(&prepared) }.unwrap();
    assert_eq!(
        original(),
        expected,
        "the relocated lea points where it did"
    );
}

static JMP_TRAMPOLINE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn jmp_replacement() -> i32 {
    let real: extern "C" fn() -> i32 =
        // SAFETY: JMP_TRAMPOLINE holds the trampoline of the generated
        // wrapper, which takes nothing and returns an int.
        unsafe { std::mem::transmute(JMP_TRAMPOLINE.load(std::sync::atomic::Ordering::SeqCst)) };
    real() + 1000
}

/// A wrapper as SQLite's exported open functions often are
/// (`endbr64; jmp openDatabase`): the jump is re-aimed from the
/// trampoline at the same function, without the block encoder.
#[test]
fn jump_wrappers_are_relocated_by_hand() {
    // +0: endbr64; jmp +0x40 (rel32). +0x40: mov eax, 42; ret.
    let mut code = vec![0xf3, 0x0f, 0x1e, 0xfa, 0xe9, 0x37, 0x00, 0x00, 0x00];
    code.resize(0x40, 0xcc);
    code.extend_from_slice(&[0xb8, 42, 0, 0, 0, 0xc3]);
    let function = decode_function(&code[..9], 0x1000).unwrap();
    let covered = covered(&function).unwrap();
    let simple = relocate_simply(covered, &code[..9], 0x1000, 0x5000, 0x1009).unwrap();
    // endbr64 copied, then jmp rel32 to 0x1040 from 0x5004, then the jump back.
    assert_eq!(&simple[..4], &code[..4]);
    assert_eq!(simple[4], 0xe9);
    let rel = i32::from_le_bytes(simple[5..9].try_into().unwrap());
    assert_eq!(0x5009 + rel as i64, 0x1040);
    let page = executable(&code);
    // SAFETY: the page holds the wrapper just written.
    let wrapper: extern "C" fn() -> i32 = unsafe { std::mem::transmute(page) };
    assert_eq!(wrapper(), 42);
    // SAFETY: 9 bytes of readable code at `page`.
    let prepared = unsafe { prepare(page, 9, &code[..9], jmp_replacement as *const () as usize) }
        .unwrap_or_else(|e| panic!("{e}"));
    JMP_TRAMPOLINE.store(prepared.trampoline, std::sync::atomic::Ordering::SeqCst);
    // SAFETY: prepared for this mapped code.
    unsafe { apply(&prepared) }.unwrap();
    assert_eq!(wrapper(), 1042);
}

extern "C" fn two() -> i32 {
    2
}

/// Hooks `mov eax, 1; ret` placed `offset` bytes into a page while three
/// threads call it without pause: every call returns 1 (before) or 2
/// (after), never crashes, and every thread sees both.
fn hook_while_running(offset: usize) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let mut code = vec![0xcc; offset];
    code.extend_from_slice(&[0xb8, 1, 0, 0, 0, 0xc3]);
    let page = executable(&code);
    let target = page + offset;
    // SAFETY: the page holds the function just written.
    let function: extern "C" fn() -> i32 = unsafe { std::mem::transmute(target) };
    let stop = AtomicBool::new(false);
    let started = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let runners: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let (mut before, mut after) = (0u64, 0u64);
                    started.fetch_add(1, SeqCst);
                    while !stop.load(SeqCst) || after < 1000 {
                        match std::hint::black_box(function)() {
                            1 => before += 1,
                            2 => after += 1,
                            other => panic!("the function returned {other}"),
                        }
                    }
                    (before, after)
                })
            })
            .collect();
        while started.load(SeqCst) < 3 {
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        // SAFETY: 6 bytes of readable code at `target`.
        let prepared = unsafe { prepare(target, 6, &code[offset..], two as *const () as usize) }
            .unwrap_or_else(|e| panic!("offset {offset}: {e}"));
        // SAFETY: prepared for this mapped code.
        unsafe { apply(&prepared) }.unwrap();
        stop.store(true, SeqCst);
        for runner in runners {
            let (before, after) = runner.join().unwrap();
            assert!(before > 0, "offset {offset}: no call ran before the hook");
            assert!(after >= 1000, "offset {offset}");
        }
    });
}

/// Hooks applied while threads run the function, at offsets that take the
/// 8-byte and the 16-byte store: the threads see the old code or the new
/// and nothing else. (A torn jump would be visible only for the
/// nanoseconds between two stores; `the_jump_is_written_in_...` pins that
/// there is one store.)
#[test]
fn hooks_land_whole_under_threads_running_the_function() {
    for offset in [0, 3, 8, 9, 11] {
        for _ in 0..20 {
            hook_while_running(offset);
        }
    }
}

/// Five bytes across a 16-byte boundary cannot be written in one store:
/// such a function is refused, untouched.
#[test]
fn a_jump_across_a_16_byte_boundary_is_refused() {
    let mut code = vec![0xcc; 12];
    code.extend_from_slice(&[0xb8, 1, 0, 0, 0, 0xc3]);
    let page = executable(&code);
    // SAFETY: 6 bytes of readable code at page + 12.
    let refused = unsafe { prepare(page + 12, 6, &code[12..], two as *const () as usize) };
    assert!(refused
        .is_err_and(|e| e.kind == HookErrorKind::Straddles && e.to_string().contains("straddle")));
    // SAFETY: the page holds the function, untouched.
    let function: extern "C" fn() -> i32 = unsafe { std::mem::transmute(page + 12) };
    assert_eq!(function(), 1);
}

/// Where the one store goes, for each place of the 5 bytes in a 16-byte
/// block: the aligned word holding them, else the aligned 16 bytes, else
/// nowhere.
#[test]
fn the_jump_is_written_in_the_smallest_aligned_block_holding_it() {
    for offset in 0..32usize {
        let target = 0x7000_0000 + offset;
        let expected = match offset % 16 {
            o if o % 8 <= 3 => Some((target & !7, 8)),
            o if o <= 11 => Some((target & !15, 16)),
            _ => None,
        };
        assert_eq!(atomic_write_for(target), expected, "offset {offset}");
    }
}

/// With every address within ±2 GiB of a function taken, there is nowhere
/// to put its relay that a `jmp rel32` reaches: the hook is refused
/// (NoNearMemory) rather than placed out of reach, and nothing is left
/// mapped or patched.
#[test]
fn no_free_page_within_reach_refuses_the_hook() {
    const LEN: usize = (4 << 30) + (8 << 20);
    // SAFETY: a fresh reservation of address space only (PROT_NONE,
    // MAP_NORESERVE: no memory), unmapped at the end of the test.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            LEN,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    let target = (base as usize + LEN / 2) & !(PAGE - 1);
    // A function at `target`: endbr64; 12 nops; ret.
    let mut code = vec![0xf3, 0x0f, 0x1e, 0xfa];
    code.extend([0x90; 12]);
    code.push(0xc3);
    // SAFETY: `target`'s page lies inside the reservation; it is made
    // writable, written (the code fits) and made executable.
    unsafe {
        assert_eq!(
            libc::mprotect(target as *mut _, PAGE, libc::PROT_READ | libc::PROT_WRITE),
            0
        );
        std::ptr::copy_nonoverlapping(code.as_ptr(), target as *mut u8, code.len());
        assert_eq!(
            libc::mprotect(target as *mut _, PAGE, libc::PROT_READ | libc::PROT_EXEC),
            0
        );
    }
    assert_eq!(near_page(target), None);
    // SAFETY: `target .. + code.len()` is mapped, readable code.
    let refused = unsafe { prepare(target, code.len(), &code, 0) };
    assert_eq!(refused.err().unwrap().kind, HookErrorKind::NoNearMemory);
    // SAFETY: the code is as written: nothing was patched.
    let after = unsafe { std::slice::from_raw_parts(target as *const u8, code.len()) };
    assert_eq!(after, &code[..]);
    // Outside the reservation, a page is found.
    let elsewhere = executable(&code);
    let page = near_page(elsewhere).unwrap();
    // SAFETY: the reservation and the two pages made here, no longer used.
    unsafe {
        libc::munmap(page as *mut _, PAGE);
        libc::munmap(elsewhere as *mut _, PAGE);
        libc::munmap(base, LEN);
    }
}
