//! Hooking a function in place (x86_64): its first instructions are
//! replaced by a jump to a handler, and a trampoline (those instructions,
//! relocated, then a jump back) calls the original.
//!
//! Functions are decoded by vfscope's own small decoder (`x86`), or by
//! `iced-x86` where that one refuses; the usual prologues are relocated by
//! hand, anything else by iced-x86's block encoder. Everything is checked
//! before a byte is written; anything unexpected leaves the code untouched
//! and says why:
//! - the overwritten instructions must lie inside the function (its symbol
//!   size), decode cleanly, and no branch in the function may land inside
//!   them;
//! - the bytes in memory must equal the object file's (nobody patched them
//!   first, and the symbol describes this code).
//!
//! The jump written into the function is 5 bytes (`jmp rel32`) to a relay
//! page allocated within ±2 GiB of it, so even a function of a few bytes
//! (`endbr64; jmp openDatabase`) can be hooked. The write is a single
//! aligned 8-byte store when the 5 bytes fit in one word, so a thread that
//! fetches those instructions sees either the old or the new ones; hooks
//! are installed when an object is first seen (at start, or as the dlopen
//! that loaded it returns), before the program can call into it.

use crate::x86::{self, Flow, Insn};
use iced_x86::InstructionBlock;
use iced_x86::{BlockEncoder, BlockEncoderOptions, Code, Decoder, DecoderOptions, Instruction};

const JMP_REL32_LEN: usize = 5;
const PAGE: usize = 4096;
/// Bytes of a relay page given to the absolute jump to the handler.
const RELAY_LEN: usize = 16;

/// A hook ready to be applied: the trampoline exists, the target is not
/// yet touched.
pub struct Prepared {
    target: usize,
    patch: [u8; JMP_REL32_LEN],
    /// Calls the original function.
    pub trampoline: usize,
}

/// Prepares a hook of the function at `target` (`size` bytes per its
/// symbol, `file_bytes` the same bytes in the object file) that jumps to
/// `handler`.
///
/// # Safety
/// `target .. target + size` must be mapped, readable code.
pub unsafe fn prepare(
    target: usize,
    size: usize,
    file_bytes: &[u8],
    handler: usize,
) -> Result<Prepared, String> {
    if size < JMP_REL32_LEN {
        return Err(format!("the function is {size} bytes, too short to hook"));
    }
    // SAFETY: per the contract.
    let code = unsafe { std::slice::from_raw_parts(target as *const u8, size) };
    if code != file_bytes {
        return Err("its code in memory differs from the object file (already patched?)".into());
    }
    let function = decode_function(code, target as u64)?;
    let covered = covered(&function)?;
    let end = target + covered.iter().map(|(_, i)| i.len).sum::<usize>();
    check_no_branch_into(&function, target + 1..end)?;
    let page = near_page(target).ok_or("no free memory within ±2 GiB of the function")?;
    // The page: the relay (`jmp [rip+0]` and the handler's address) at 0,
    // the trampoline at RELAY_LEN.
    let trampoline_at = page + RELAY_LEN;
    let bytes = &code[..end - target];
    let encoded = match relocate_simply(covered, bytes, target as u64, trampoline_at, end) {
        Some(encoded) => encoded,
        None => relocate(bytes, target as u64, trampoline_at, end)?,
    };
    if RELAY_LEN + encoded.len() > PAGE {
        return Err("the relocated instructions do not fit a page".into());
    }
    let mut relay = [0u8; RELAY_LEN];
    relay[..6].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
    relay[6..14].copy_from_slice(&(handler as u64).to_le_bytes());
    relay[14..].copy_from_slice(&[0xcc, 0xcc]);
    // SAFETY: the page is ours, writable, PAGE bytes; both writes fit.
    unsafe {
        std::ptr::copy_nonoverlapping(relay.as_ptr(), page as *mut u8, RELAY_LEN);
        std::ptr::copy_nonoverlapping(encoded.as_ptr(), trampoline_at as *mut u8, encoded.len());
        if libc::mprotect(page as *mut _, PAGE, libc::PROT_READ | libc::PROT_EXEC) != 0 {
            return Err("cannot make the trampoline executable".into());
        }
    }
    let rel = page as i64 - (target as i64 + JMP_REL32_LEN as i64);
    let mut patch = [0xe9, 0, 0, 0, 0];
    patch[1..].copy_from_slice(&(rel as i32).to_le_bytes());
    Ok(Prepared {
        target,
        patch,
        trampoline: trampoline_at,
    })
}

/// The trampoline's code at `at`, by iced-x86's block encoder: the
/// instructions of `bytes` (decoded at `from`), then a jump back to `back`.
/// For prologues [`relocate_simply`] does not handle (a conditional branch
/// among them, say); building the encoder's tables costs about 1.5 million
/// instructions, once.
fn relocate(bytes: &[u8], from: u64, at: usize, back: usize) -> Result<Vec<u8>, String> {
    let mut block: Vec<Instruction> = Decoder::with_ip(64, bytes, from, DecoderOptions::NONE)
        .into_iter()
        .collect();
    block.push(
        Instruction::with_branch(Code::Jmp_rel32_64, back as u64)
            .map_err(|e| format!("cannot encode the jump back: {e}"))?,
    );
    let encoded = BlockEncoder::encode(
        64,
        InstructionBlock::new(&block, at as u64),
        BlockEncoderOptions::NONE,
    )
    .map_err(|e| format!("cannot relocate its first instructions: {e}"))?;
    Ok(encoded.code_buffer)
}

/// The usual prologues, relocated by hand: instructions that do not depend
/// on where they are, copied; `jmp` and `call` with a relative target and
/// RIP-relative operands (32-bit displacements), re-aimed at the same
/// addresses. `None` for anything else.
fn relocate_simply(
    covered: &[(usize, Insn)],
    bytes: &[u8],
    from: u64,
    at: usize,
    back: usize,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() + 2 * JMP_REL32_LEN);
    let rel32 = |target: u64, end: usize| i32::try_from(target as i64 - end as i64).ok();
    for &(start, insn) in covered {
        let raw = bytes.get(start..start + insn.len)?;
        let here = at + out.len();
        match insn.flow {
            Flow::Jmp(target) | Flow::Call(target) => {
                out.push(if matches!(insn.flow, Flow::Call(_)) {
                    0xe8
                } else {
                    0xe9
                });
                out.extend_from_slice(&rel32(target, here + JMP_REL32_LEN)?.to_le_bytes());
            }
            Flow::Jcc(_) | Flow::Other => return None,
            Flow::Next => {
                out.extend_from_slice(raw);
                if let Some(field) = insn.rip_disp {
                    let old = i32::from_le_bytes(raw.get(field..field + 4)?.try_into().ok()?);
                    let end = from as i64 + (start + insn.len) as i64;
                    let address = (end + old as i64) as u64;
                    let rel = rel32(address, here + raw.len())?;
                    let field = out.len() - raw.len() + field;
                    out[field..field + 4].copy_from_slice(&rel.to_le_bytes());
                }
            }
        }
    }
    let end = at + out.len() + JMP_REL32_LEN;
    out.push(0xe9);
    out.extend_from_slice(&rel32(back as u64, end)?.to_le_bytes());
    Some(out)
}

/// Every instruction of the function (offset, decoded): by the small
/// decoder, or by iced-x86 where it refuses.
fn decode_function(code: &[u8], ip: u64) -> Result<Vec<(usize, Insn)>, String> {
    if let Some(all) = x86::decode_all(code, ip) {
        return Ok(all);
    }
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut all = Vec::new();
    while decoder.can_decode() {
        let i = decoder.decode();
        let at = (i.ip() - ip) as usize;
        if i.is_invalid() {
            // Decoding would go out of step and could miss a branch (this
            // build leaves out AVX-512, XOP and 3DNow!: see Cargo.toml).
            return Err(format!("undecodable instruction at +{at}"));
        }
        let insn = x86::from_iced(&decoder, &i);
        if i.is_ip_rel_memory_operand() && insn.rip_disp.is_none() {
            return Err(format!(
                "a RIP-relative operand without a 32-bit displacement at +{at}"
            ));
        }
        all.push((at, insn));
    }
    Ok(all)
}

/// The whole instructions that the 5-byte jump overwrites.
fn covered(function: &[(usize, Insn)]) -> Result<&[(usize, Insn)], String> {
    let mut len = 0;
    for (n, (_, insn)) in function.iter().enumerate() {
        len += insn.len;
        if len >= JMP_REL32_LEN {
            return Ok(&function[..=n]);
        }
    }
    Err("its first instructions run past the end of the function".into())
}

/// Fails if a direct branch anywhere in the function lands in `inside`.
fn check_no_branch_into(
    function: &[(usize, Insn)],
    inside: std::ops::Range<usize>,
) -> Result<(), String> {
    for &(at, insn) in function {
        if let Flow::Jmp(target) | Flow::Call(target) | Flow::Jcc(target) = insn.flow {
            if inside.contains(&(target as usize)) {
                return Err(format!(
                    "a branch at +{at} lands inside the instructions a hook would overwrite"
                ));
            }
        }
    }
    Ok(())
}

/// A fresh read-write page within ±2 GiB of `target` (so that `jmp rel32`
/// reaches it), searched outward in 1 MiB steps.
fn near_page(target: usize) -> Option<usize> {
    const STEP: usize = 1 << 20;
    const REACH: usize = (1 << 31) - (2 << 20);
    let base = target & !(STEP - 1);
    for i in 1..REACH / STEP {
        for hint in [base.checked_sub(i * STEP), base.checked_add(i * STEP)]
            .into_iter()
            .flatten()
        {
            // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing
            // mapping; it fails (or, on kernels before 4.17, treats the
            // address as a hint, which the range check below catches).
            let p = unsafe {
                libc::mmap(
                    hint as *mut _,
                    PAGE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                continue;
            }
            let p = p as usize;
            if p.abs_diff(target) < REACH {
                return Some(p);
            }
            // SAFETY: the mapping just made, unused.
            unsafe { libc::munmap(p as *mut _, PAGE) };
        }
    }
    None
}

/// Writes the jump into the function.
///
/// # Safety
/// `prepared` came from [`prepare`] for code that is still mapped.
pub unsafe fn apply(prepared: &Prepared) -> Result<(), String> {
    let target = prepared.target;
    let first_page = target & !(PAGE - 1);
    let last_page = (target + JMP_REL32_LEN - 1) & !(PAGE - 1);
    let span = last_page + PAGE - first_page;
    let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
    // SAFETY: the pages hold the function's code; they stay executable
    // throughout, for threads running other code on them.
    if unsafe { libc::mprotect(first_page as *mut _, span, rwx) } != 0 {
        return Err(format!(
            "cannot make its code writable: {}",
            std::io::Error::last_os_error()
        ));
    }
    let word = target & !7;
    if target + JMP_REL32_LEN <= word + 8 {
        let shift = target - word;
        // SAFETY: an aligned word within the writable pages; the bytes
        // outside the patch are written back as they were.
        unsafe {
            let p = word as *mut u64;
            let mut bytes = p.read_volatile().to_le_bytes();
            bytes[shift..shift + JMP_REL32_LEN].copy_from_slice(&prepared.patch);
            std::sync::atomic::AtomicU64::from_ptr(p).store(
                u64::from_le_bytes(bytes),
                std::sync::atomic::Ordering::SeqCst,
            );
        }
    } else {
        // SAFETY: the patch lies within the writable pages.
        unsafe {
            std::ptr::copy_nonoverlapping(prepared.patch.as_ptr(), target as *mut u8, JMP_REL32_LEN)
        };
    }
    // SAFETY: as above, back to read and execute.
    unsafe {
        libc::mprotect(
            first_page as *mut _,
            span,
            libc::PROT_READ | libc::PROT_EXEC,
        )
    };
    Ok(())
}

#[cfg(test)]
mod tests {
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
        assert!(short.err().unwrap().contains("too short"));
        let code = [0x90u8; 16];
        // SAFETY: as above.
        let changed = unsafe { prepare(code.as_ptr() as usize, 16, &[0xc3; 16], 0) };
        assert!(changed.err().unwrap().contains("differs"));
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
        let prepared =
            unsafe { prepare(page, 12, &code[..12], rip_replacement as *const () as usize) }
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
        let prepared =
            unsafe { prepare(page, 9, &code[..9], jmp_replacement as *const () as usize) }
                .unwrap_or_else(|e| panic!("{e}"));
        JMP_TRAMPOLINE.store(prepared.trampoline, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: prepared for this mapped code.
        unsafe { apply(&prepared) }.unwrap();
        assert_eq!(wrapper(), 1042);
    }
}
