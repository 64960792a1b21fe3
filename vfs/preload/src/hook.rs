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
//! (`endbr64; jmp openDatabase`) can be hooked. It is written in one atomic
//! store (8 or 16 aligned bytes), so a thread that fetches those
//! instructions sees either the old or the new ones; a function whose
//! first 5 bytes straddle a 16-byte boundary is not hooked. Hooks are
//! installed when an object is first seen (at start, or before the dlopen
//! that loaded it returns), before the program can call into it.

use crate::x86::{self, Flow, Insn};
use iced_x86::InstructionBlock;
use iced_x86::{BlockEncoder, BlockEncoderOptions, Code, Decoder, DecoderOptions, Instruction};
use HookErrorKind::*;

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

/// Lets go of a hook that will not be applied: its page is unmapped
/// (nothing jumps to it: the function was never patched).
pub fn discard(prepared: Prepared) {
    let page = prepared.trampoline - RELAY_LEN;
    // SAFETY: the page `prepare` mapped for this hook, which no code refers
    // to since `apply` never ran for it.
    unsafe { libc::munmap(page as *mut _, PAGE) };
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
) -> Result<Prepared, HookError> {
    if size < JMP_REL32_LEN {
        return Err(HookError::new(
            TooShort,
            format!("the function is {size} bytes, too short to hook"),
        ));
    }
    // SAFETY: per the contract.
    let code = unsafe { std::slice::from_raw_parts(target as *const u8, size) };
    if code != file_bytes {
        return Err(HookError::new(
            Changed,
            "its code in memory differs from the object file (already patched?)",
        ));
    }
    let function = decode_function(code, target as u64)?;
    let covered = covered(&function)?;
    let end = target + covered.iter().map(|(_, i)| i.len).sum::<usize>();
    check_no_branch_into(&function, target + 1..end)?;
    if atomic_write_for(target).is_none() {
        return Err(straddles());
    }
    let page = near_page(target).ok_or_else(|| {
        HookError::new(NoNearMemory, "no free memory within ±2 GiB of the function")
    })?;
    // SAFETY: `page` is a fresh mapping of PAGE bytes, only ours.
    if let Err(why) =
        unsafe { fill_page(page, &code[..end - target], covered, target, end, handler) }
    {
        // SAFETY: nothing refers to the page: it was never made executable.
        unsafe { libc::munmap(page as *mut _, PAGE) };
        return Err(why);
    }
    let trampoline_at = page + RELAY_LEN;
    let rel = page as i64 - (target as i64 + JMP_REL32_LEN as i64);
    let mut patch = [0xe9, 0, 0, 0, 0];
    patch[1..].copy_from_slice(&(rel as i32).to_le_bytes());
    Ok(Prepared {
        target,
        patch,
        trampoline: trampoline_at,
    })
}

/// Fills a fresh page with the relay (`jmp [rip+0]` and the handler's
/// address) at 0 and the trampoline (the overwritten instructions,
/// relocated, then a jump back to `end`) at RELAY_LEN, then makes it
/// read-only and executable.
///
/// # Safety
/// `page` is a writable mapping of PAGE bytes that nothing else uses.
unsafe fn fill_page(
    page: usize,
    bytes: &[u8],
    covered: &[(usize, Insn)],
    target: usize,
    end: usize,
    handler: usize,
) -> Result<(), HookError> {
    let trampoline_at = page + RELAY_LEN;
    let encoded = match relocate_simply(covered, bytes, target as u64, trampoline_at, end) {
        Some(encoded) => encoded,
        None => relocate(bytes, target as u64, trampoline_at, end)?,
    };
    if RELAY_LEN + encoded.len() > PAGE {
        return Err(HookError::new(
            Relocation,
            "the relocated instructions do not fit a page",
        ));
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
            return Err(HookError::new(
                Protection,
                "cannot make the trampoline executable",
            ));
        }
    }
    Ok(())
}

/// The trampoline's code at `at`, by iced-x86's block encoder: the
/// instructions of `bytes` (decoded at `from`), then a jump back to `back`.
/// For prologues [`relocate_simply`] does not handle (a conditional branch
/// among them, say); building the encoder's tables costs about 1.5 million
/// instructions, once.
fn relocate(bytes: &[u8], from: u64, at: usize, back: usize) -> Result<Vec<u8>, HookError> {
    let mut block: Vec<Instruction> = Decoder::with_ip(64, bytes, from, DecoderOptions::NONE)
        .into_iter()
        .collect();
    block.push(
        Instruction::with_branch(Code::Jmp_rel32_64, back as u64)
            .map_err(|e| HookError::new(Relocation, format!("cannot encode the jump back: {e}")))?,
    );
    let encoded = BlockEncoder::encode(
        64,
        InstructionBlock::new(&block, at as u64),
        BlockEncoderOptions::NONE,
    )
    .map_err(|e| {
        HookError::new(
            Relocation,
            format!("cannot relocate its first instructions: {e}"),
        )
    })?;
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
fn decode_function(code: &[u8], ip: u64) -> Result<Vec<(usize, Insn)>, HookError> {
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
            return Err(HookError::new(
                Undecodable,
                format!("undecodable instruction at +{at}"),
            ));
        }
        let insn = x86::from_iced(&decoder, &i);
        if i.is_ip_rel_memory_operand() && insn.rip_disp.is_none() {
            return Err(HookError::new(
                Undecodable,
                format!("a RIP-relative operand without a 32-bit displacement at +{at}"),
            ));
        }
        all.push((at, insn));
    }
    Ok(all)
}

/// The whole instructions that the 5-byte jump overwrites.
fn covered(function: &[(usize, Insn)]) -> Result<&[(usize, Insn)], HookError> {
    let mut len = 0;
    for (n, (_, insn)) in function.iter().enumerate() {
        len += insn.len;
        if len >= JMP_REL32_LEN {
            return Ok(&function[..=n]);
        }
    }
    Err(HookError::new(
        TooShort,
        "its first instructions run past the end of the function",
    ))
}

/// Fails if a direct branch anywhere in the function lands in `inside`.
fn check_no_branch_into(
    function: &[(usize, Insn)],
    inside: std::ops::Range<usize>,
) -> Result<(), HookError> {
    for &(at, insn) in function {
        if let Flow::Jmp(target) | Flow::Call(target) | Flow::Jcc(target) = insn.flow {
            if inside.contains(&(target as usize)) {
                return Err(HookError::new(
                    BranchInside,
                    format!(
                        "a branch at +{at} lands inside the instructions a hook would overwrite"
                    ),
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

fn straddles() -> HookError {
    HookError::new(
        Straddles,
        "its first 5 bytes straddle a 16-byte boundary, so the jump cannot be written in one store",
    )
}

/// How the 5-byte jump can be written so that no thread ever fetches half
/// of it: one aligned 8-byte store when it fits in an aligned word, one
/// aligned 16-byte `lock cmpxchg16b` when it fits in an aligned 16 bytes.
/// `None` when it straddles a 16-byte boundary: the function is not hooked.
fn atomic_write_for(target: usize) -> Option<(usize, usize)> {
    [8usize, 16]
        .into_iter()
        .map(|width| (target & !(width - 1), width))
        .find(|&(start, width)| target + JMP_REL32_LEN <= start + width)
        .filter(|&(_, width)| width == 8 || std::arch::is_x86_feature_detected!("cmpxchg16b"))
}

/// Writes the jump into the function, as one atomic store (see
/// [`atomic_write_for`]), with its pages writable only for that store.
///
/// A thread already past the first of the overwritten instructions when
/// the jump lands would run the rest of the jump's bytes: hooks are
/// written when an object is first seen (at start, or before the `dlopen`
/// that loaded it returns, and other threads' `dlopen`s of it wait for
/// them: see `load`), before the program has a handle to call into it.
///
/// # Safety
/// `prepared` came from [`prepare`] for code that is still mapped.
pub unsafe fn apply(prepared: &Prepared) -> Result<(), HookError> {
    let target = prepared.target;
    let (start, width) = atomic_write_for(target).ok_or_else(straddles)?;
    let first_page = start & !(PAGE - 1);
    let last_page = (start + width - 1) & !(PAGE - 1);
    let span = last_page + PAGE - first_page;
    let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
    // SAFETY: the pages hold the function's code; they stay executable
    // throughout, for threads running other code on them.
    if unsafe { libc::mprotect(first_page as *mut _, span, rwx) } != 0 {
        return Err(HookError::new(
            Protection,
            format!(
                "cannot make its code writable: {}",
                std::io::Error::last_os_error()
            ),
        ));
    }
    let shift = target - start;
    // SAFETY: an aligned block of `width` bytes within the writable pages;
    // the bytes outside the patch are written back as they were.
    unsafe {
        if width == 8 {
            let p = start as *mut u64;
            let mut bytes = p.read_volatile().to_le_bytes();
            bytes[shift..shift + JMP_REL32_LEN].copy_from_slice(&prepared.patch);
            std::sync::atomic::AtomicU64::from_ptr(p).store(
                u64::from_le_bytes(bytes),
                std::sync::atomic::Ordering::SeqCst,
            );
        } else {
            store16(start as *mut u128, shift, &prepared.patch);
        }
    }
    // SAFETY: as above, back to read and execute.
    if unsafe {
        libc::mprotect(
            first_page as *mut _,
            span,
            libc::PROT_READ | libc::PROT_EXEC,
        )
    } != 0
    {
        let why = std::io::Error::last_os_error();
        vfscope_shim::warn(&format!(
            "a code page at {first_page:#x} stays writable: mprotect failed ({why})"
        ));
    }
    Ok(())
}

/// Puts `patch` at byte `shift` of the aligned 16 bytes at `p` with one
/// `lock cmpxchg16b` (retried if the other bytes changed meanwhile).
///
/// # Safety
/// `p` is 16-byte aligned, writable, and the CPU has cmpxchg16b.
unsafe fn store16(p: *mut u128, shift: usize, patch: &[u8]) {
    loop {
        // SAFETY: per the contract; a torn read only fails the exchange.
        let old = unsafe { p.read_volatile() };
        let mut bytes = old.to_le_bytes();
        bytes[shift..shift + patch.len()].copy_from_slice(patch);
        let new = u128::from_le_bytes(bytes);
        let (old_lo, old_hi) = (old as u64, (old >> 64) as u64);
        let (new_lo, new_hi) = (new as u64, (new >> 64) as u64);
        let swapped: u8;
        // SAFETY: cmpxchg16b on aligned writable memory (the contract);
        // rbx is saved and restored around it, as LLVM reserves it.
        unsafe {
            std::arch::asm!(
                "xchg {new_lo}, rbx",
                "lock cmpxchg16b xmmword ptr [{p}]",
                "sete {swapped}",
                "mov rbx, {new_lo}",
                p = in(reg) p,
                new_lo = inout(reg) new_lo => _,
                swapped = out(reg_byte) swapped,
                in("rcx") new_hi,
                inout("rax") old_lo => _,
                inout("rdx") old_hi => _,
                options(nostack),
            );
        }
        if swapped != 0 {
            return;
        }
    }
}

mod error;
#[cfg(test)]
mod tests;

pub use error::{HookError, HookErrorKind};
