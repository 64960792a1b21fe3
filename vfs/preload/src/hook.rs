//! Hooking a function in place (x86_64): its first instructions are
//! replaced by a jump to a handler, and a trampoline (those instructions,
//! relocated, then a jump back) calls the original.
//!
//! Built on `iced-x86`'s decoder and block encoder, which relocate
//! RIP-relative operands and branches. Everything is checked before a byte
//! is written; anything unexpected leaves the code untouched and says why:
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
    let covered = covered_instructions(code, target as u64)?;
    let end = covered.last().map_or(0, |i| i.next_ip()) as usize;
    check_no_branch_into(code, target as u64, target + 1..end)?;
    let page = near_page(target).ok_or("no free memory within ±2 GiB of the function")?;
    // The page: the relay (`jmp [rip+0]` and the handler's address) at 0,
    // the trampoline at RELAY_LEN.
    let trampoline_at = page + RELAY_LEN;
    let mut block = covered.clone();
    block.push(
        Instruction::with_branch(Code::Jmp_rel32_64, end as u64)
            .map_err(|e| format!("cannot encode the jump back: {e}"))?,
    );
    let encoded = BlockEncoder::encode(
        64,
        InstructionBlock::new(&block, trampoline_at as u64),
        BlockEncoderOptions::NONE,
    )
    .map_err(|e| format!("cannot relocate its first instructions: {e}"))?;
    if RELAY_LEN + encoded.code_buffer.len() > PAGE {
        return Err("the relocated instructions do not fit a page".into());
    }
    let mut relay = [0u8; RELAY_LEN];
    relay[..6].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
    relay[6..14].copy_from_slice(&(handler as u64).to_le_bytes());
    relay[14..].copy_from_slice(&[0xcc, 0xcc]);
    // SAFETY: the page is ours, writable, PAGE bytes; both writes fit.
    unsafe {
        std::ptr::copy_nonoverlapping(relay.as_ptr(), page as *mut u8, RELAY_LEN);
        std::ptr::copy_nonoverlapping(
            encoded.code_buffer.as_ptr(),
            trampoline_at as *mut u8,
            encoded.code_buffer.len(),
        );
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

/// The whole instructions that the 5-byte jump overwrites.
fn covered_instructions(code: &[u8], ip: u64) -> Result<Vec<Instruction>, String> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut covered = Vec::new();
    let mut len = 0;
    while len < JMP_REL32_LEN {
        if !decoder.can_decode() {
            return Err("its first instructions run past the end of the function".into());
        }
        let instruction = decoder.decode();
        if instruction.is_invalid() {
            return Err(format!("undecodable instruction at +{len}"));
        }
        len += instruction.len();
        covered.push(instruction);
    }
    Ok(covered)
}

/// Fails if a direct branch anywhere in the function lands in `inside`.
fn check_no_branch_into(
    code: &[u8],
    ip: u64,
    inside: std::ops::Range<usize>,
) -> Result<(), String> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    while decoder.can_decode() {
        let i = decoder.decode();
        let direct = i.is_jcc_short_or_near()
            || i.is_jmp_short_or_near()
            || i.is_call_near()
            || i.is_loop()
            || i.is_loopcc()
            || i.is_jcx_short();
        if direct && inside.contains(&(i.near_branch_target() as usize)) {
            return Err(format!(
                "a branch at +{} lands inside the instructions a hook would overwrite",
                i.ip() - ip
            ));
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

    #[test]
    fn refuses_branches_into_the_patched_bytes() {
        // endbr64; nop; nop; jmp back to +4 (inside the first 5 bytes).
        let code = [0xf3, 0x0f, 0x1e, 0xfa, 0x90, 0x90, 0xeb, 0xfc];
        let covered = covered_instructions(&code, 0x1000).unwrap();
        assert_eq!(covered.len(), 2);
        let end = covered.last().unwrap().next_ip() as usize;
        assert!(check_no_branch_into(&code, 0x1000, 0x1001..end).is_err());
        // The same with the branch going to +0 (a fresh call) is fine.
        let code = [0xf3, 0x0f, 0x1e, 0xfa, 0x90, 0x90, 0xeb, 0xf8];
        assert!(check_no_branch_into(&code, 0x1000, 0x1001..end).is_ok());
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
        // SAFETY: the first 32 bytes of a function of this test binary.
        let bytes = unsafe { std::slice::from_raw_parts(target as *const u8, 32) }.to_vec();
        let size = 32.min(bytes.iter().position(|&b| b == 0xc3).map_or(32, |p| p + 1));
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
        // SAFETY: a fresh anonymous mapping, written then made executable.
        let page = unsafe {
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
        };
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
}
