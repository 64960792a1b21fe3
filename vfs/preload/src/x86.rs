//! A small x86_64 instruction decoder for the code hooks look at: the
//! general-purpose and SSE instructions compilers emit for functions
//! such as SQLite's `sqlite3_open*`. It finds each instruction's length,
//! whether it is a direct branch (and where to), and where a RIP-relative
//! displacement sits; that is all a hook needs.
//!
//! Why not iced-x86 for everything: its decoder builds its tables on first
//! use, 1.7 million instructions (about half a millisecond) at every start
//! of every process vfscope wraps. This decoder has no tables to build.
//! It refuses what it does not know (VEX, EVEX, XOP, 3DNow!, x87 (whose
//! invalid forms are irregular), LOCK prefixes, rare system opcodes,
//! unusual prefix orders): the hook then falls back to iced-x86.
//! A test decodes whole libraries with both and requires the same answer
//! wherever this one answers.

/// Where control goes after an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// The next instruction.
    Next,
    /// `jmp rel8/rel32` to the address.
    Jmp(u64),
    /// `call rel32` to the address.
    Call(u64),
    /// A conditional direct branch (`jcc`, `loop*`, `jrcxz`) to the address.
    Jcc(u64),
    /// Anything else: returns, indirect branches, traps, system calls.
    Other,
}

/// One decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub len: usize,
    pub flow: Flow,
    /// Offset in the instruction of a RIP-relative operand's 32-bit
    /// displacement.
    pub rip_disp: Option<usize>,
}

/// Longest x86 instruction.
const MAX_LEN: usize = 15;

/// Decodes the instruction at the start of `code`, which is at address
/// `ip`. `None` for anything outside this decoder's subset (or cut short).
pub fn decode(code: &[u8], ip: u64) -> Option<Insn> {
    let mut p = 0;
    let (mut opsize16, mut addr32, mut f3, mut f2) = (false, false, false, false);
    loop {
        match *code.get(p)? {
            0x66 => opsize16 = true,
            0x67 => addr32 = true,
            0xf3 => f3 = true,
            0xf2 => f2 = true,
            // LOCK: valid on a few memory forms only; refused.
            0xf0 => return None,
            0x2e | 0x3e | 0x26 | 0x36 | 0x64 | 0x65 => {}
            _ => break,
        }
        p += 1;
        if p > 4 {
            return None;
        }
    }
    let mut rex_w = false;
    if code.get(p)? & 0xf0 == 0x40 {
        rex_w = code[p] & 8 != 0;
        p += 1;
    }
    let op = *code.get(p)?;
    p += 1;
    let iz = if opsize16 && !rex_w { 2 } else { 4 };
    let d = Decoding { code, ip, addr32 };
    let insn = match op {
        0x0f => return d.two_byte(p, f3, f2, opsize16),
        // A prefix or a second REX after a REX: the REX is ignored; refused.
        0x40..=0x4f
        | 0x66
        | 0x67
        | 0xf0
        | 0xf2
        | 0xf3
        | 0x26
        | 0x2e
        | 0x36
        | 0x3e
        | 0x64
        | 0x65 => return None,
        0x00..=0x3f => match op & 7 {
            0..=3 => d.modrm(p, 0)?,
            4 => d.imm(p, 1)?,
            5 => d.imm(p, iz)?,
            _ => return None,
        },
        0x50..=0x5f | 0x6c..=0x6f | 0x90..=0x99 | 0x9b..=0x9f | 0xa4..=0xa7 | 0xaa..=0xaf => {
            d.imm(p, 0)?
        }
        0x63 | 0x84..=0x8b | 0xd0..=0xd3 => d.modrm(p, 0)?,
        // LEA needs a memory operand.
        0x8d if *code.get(p)? < 0xc0 => d.modrm(p, 0)?,
        0x68 => d.imm(p, iz)?,
        0x69 => d.modrm(p, iz)?,
        0x6a | 0xa8 | 0xb0..=0xb7 | 0xe4..=0xe7 => d.imm(p, 1)?,
        0x6b | 0x80 | 0x83 | 0xc0 | 0xc1 => d.modrm(p, 1)?,
        0x81 => d.modrm(p, iz)?,
        // POP r/m; 8F with another reg field is an XOP prefix.
        0x8f if reg_of(code, p)? == 0 => d.modrm(p, 0)?,
        0xa0..=0xa3 => d.imm(p, if addr32 { 4 } else { 8 })?,
        0xa9 => d.imm(p, iz)?,
        0xb8..=0xbf => d.imm(p, if rex_w { 8 } else { iz })?,
        0xc6 if reg_of(code, p)? == 0 => d.modrm(p, 1)?,
        0xc7 if reg_of(code, p)? == 0 => d.modrm(p, iz)?,
        0xc8 => d.imm(p, 3)?,
        0xc9 | 0xd7 | 0xec..=0xef | 0xf5 | 0xf8..=0xfd => d.imm(p, 0)?,
        0xf6 => d.modrm(p, if reg_of(code, p)? <= 1 { 1 } else { 0 })?,
        0xf7 => d.modrm(p, if reg_of(code, p)? <= 1 { iz } else { 0 })?,
        0xfe if reg_of(code, p)? <= 1 => d.modrm(p, 0)?,
        0xff => match reg_of(code, p)? {
            0 | 1 | 6 => d.modrm(p, 0)?,
            // Indirect near call and jmp; the far ones need memory.
            2 | 4 => Insn {
                flow: Flow::Other,
                ..d.modrm(p, 0)?
            },
            3 | 5 if *code.get(p)? < 0xc0 => Insn {
                flow: Flow::Other,
                ..d.modrm(p, 0)?
            },
            _ => return None,
        },
        // Direct branches; with an operand-size prefix CPUs disagree.
        0x70..=0x7f | 0xe0..=0xe3 if !opsize16 => d.branch(p, 1, Flow::Jcc)?,
        0xeb if !opsize16 => d.branch(p, 1, Flow::Jmp)?,
        0xe9 if !opsize16 => d.branch(p, 4, Flow::Jmp)?,
        0xe8 if !opsize16 => d.branch(p, 4, Flow::Call)?,
        0xc3 | 0xcb | 0xcc | 0xcf | 0xf1 | 0xf4 => d.other(p, 0)?,
        0xc2 | 0xca => d.other(p, 2)?,
        0xcd => d.other(p, 1)?,
        _ => return None,
    };
    (insn.len <= MAX_LEN).then_some(insn)
}

/// The reg field of the ModRM byte at `at`.
fn reg_of(code: &[u8], at: usize) -> Option<u8> {
    Some((code.get(at)? >> 3) & 7)
}

struct Decoding<'a> {
    code: &'a [u8],
    ip: u64,
    addr32: bool,
}

impl Decoding<'_> {
    /// An instruction that ends after `imm` bytes of immediate at `at`.
    fn imm(&self, at: usize, imm: usize) -> Option<Insn> {
        let len = at + imm;
        (len <= self.code.len()).then_some(Insn {
            len,
            flow: Flow::Next,
            rip_disp: None,
        })
    }

    /// The same, for an instruction that does not go on to the next one.
    fn other(&self, at: usize, imm: usize) -> Option<Insn> {
        Some(Insn {
            flow: Flow::Other,
            ..self.imm(at, imm)?
        })
    }

    /// A ModRM byte at `at` (with its SIB and displacement), then `imm`
    /// bytes of immediate.
    fn modrm(&self, at: usize, imm: usize) -> Option<Insn> {
        let modrm = *self.code.get(at)?;
        let (mode, rm) = (modrm >> 6, modrm & 7);
        let mut len = at + 1;
        let mut rip_disp = None;
        if mode != 3 {
            if rm == 4 {
                let sib = *self.code.get(len)?;
                len += 1;
                if mode == 0 && sib & 7 == 5 {
                    len += 4;
                }
            }
            match mode {
                0 if rm == 5 => {
                    // RIP-relative (EIP-relative with 0x67: refused, the
                    // hook's relocation assumes 64-bit addresses).
                    if self.addr32 {
                        return None;
                    }
                    rip_disp = Some(len);
                    len += 4;
                }
                1 => len += 1,
                2 => len += 4,
                _ => {}
            }
        }
        Some(Insn {
            rip_disp,
            ..self.imm(len, imm)?
        })
    }

    /// A direct branch with a `size`-byte relative target at `at`.
    fn branch(&self, at: usize, size: usize, flow: fn(u64) -> Flow) -> Option<Insn> {
        let raw = self.code.get(at..at + size)?;
        let rel = match size {
            1 => raw[0] as i8 as i64,
            _ => i32::from_le_bytes(raw.try_into().ok()?) as i64,
        };
        let len = at + size;
        let target = (self.ip as i64).wrapping_add(len as i64).wrapping_add(rel) as u64;
        Some(Insn {
            len,
            flow: flow(target),
            rip_disp: None,
        })
    }

    /// A ModRM instruction whose operand form (`mode`, `reg` fields) must
    /// pass `valid`: some opcodes need a memory operand, some a register.
    fn modrm_if(&self, at: usize, imm: usize, valid: impl Fn(u8, u8) -> bool) -> Option<Insn> {
        let modrm = *self.code.get(at)?;
        valid(modrm >> 6, (modrm >> 3) & 7).then_some(())?;
        self.modrm(at, imm)
    }

    /// The opcode after 0F, at `at` (`f3`, `f2`, `o16`: the prefixes seen).
    fn two_byte(&self, at: usize, f3: bool, f2: bool, o16: bool) -> Option<Insn> {
        let op = *self.code.get(at)?;
        let p = at + 1;
        let plain = !f3 && !f2 && !o16;
        let mem = |mode: u8, _: u8| mode != 3;
        let reg = |mode: u8, _: u8| mode == 3;
        let insn = match op {
            0x38 => self.three_byte_38(p, o16, plain)?,
            0x3a => self.three_byte_3a(p, o16, plain)?,
            0x80..=0x8f if !o16 => self.branch(p, 4, Flow::Jcc)?,
            0x05 | 0x07 | 0x0b => self.other(p, 0)?,
            0x31 | 0x77 | 0xa0 | 0xa1 | 0xa2 | 0xa8 | 0xa9 | 0xc8..=0xcf => self.imm(p, 0)?,
            // Group 7 with a memory operand (SGDT..LMSW, INVLPG; not /5);
            // its register forms are special instructions (XEND, ...).
            0x01 => self.modrm_if(p, 0, |mode, r| mode != 3 && r != 5)?,
            0x02 | 0x03 | 0x10..=0x12 | 0x14..=0x16 | 0x1f | 0x28..=0x2a | 0x2c..=0x2f => {
                self.modrm(p, 0)?
            }
            0x40..=0x4f | 0x51..=0x6b | 0x6e | 0x6f | 0x74..=0x76 | 0x7e | 0x7f | 0x90..=0x9f => {
                self.modrm(p, 0)?
            }
            0x6c | 0x6d if o16 => self.modrm(p, 0)?,
            0xd0 if o16 || f2 => self.modrm(p, 0)?,
            0xe6 if !plain => self.modrm(p, 0)?,
            0xa3 | 0xa5 | 0xab | 0xad | 0xaf..=0xb1 | 0xb3 | 0xb6 | 0xb7 | 0xbb..=0xc1 => {
                self.modrm(p, 0)?
            }
            0xd1..=0xd5 | 0xd8..=0xe5 | 0xe8..=0xef | 0xf1..=0xf6 | 0xf8..=0xfe => {
                self.modrm(p, 0)?
            }
            0x13 | 0x17 | 0x2b | 0xc3 | 0xe7 => self.modrm_if(p, 0, mem)?,
            0x50 | 0xd7 | 0xf7 => self.modrm_if(p, 0, reg)?,
            0xd6 if o16 => self.modrm(p, 0)?,
            0xf0 if f2 => self.modrm_if(p, 0, mem)?,
            0x7c | 0x7d if o16 || f2 => self.modrm(p, 0)?,
            0x1e if f3 => self.modrm(p, 0)?,
            0xae => self.modrm_if(p, 0, |mode, r| mode != 3 || (5..=7).contains(&r))?,
            0xc7 => self.modrm_if(p, 0, |mode, r| {
                (mode != 3 && r == 1) || (mode == 3 && r >= 6)
            })?,
            0x18 => self.modrm_if(p, 0, |mode, r| mode != 3 && r <= 3)?,
            0x0d => self.modrm_if(p, 0, mem)?,
            0x70 | 0xa4 | 0xac | 0xba | 0xc2 | 0xc4 | 0xc6 => self.modrm(p, 1)?,
            0x71..=0x73 | 0xc5 => self.modrm_if(p, 1, reg)?,
            // POPCNT (F3 0F B8); without F3 it is something else.
            0xb8 if f3 => self.modrm(p, 0)?,
            // UD0 traps.
            0xff => Insn {
                flow: Flow::Other,
                ..self.modrm(p, 0)?
            },
            _ => return None,
        };
        (insn.len <= MAX_LEN).then_some(insn)
    }

    /// 0F 38 xx: SSSE3 (with or without 66), SSE4.1/4.2 (66).
    fn three_byte_38(&self, at: usize, o16: bool, plain: bool) -> Option<Insn> {
        let op = *self.code.get(at)?;
        let ok = match op {
            0x00..=0x0b | 0x1c..=0x1e => o16 || plain,
            0x10 | 0x14 | 0x15 | 0x17 | 0x20..=0x25 | 0x28 | 0x29 | 0x2b | 0x30..=0x35 => o16,
            0x37..=0x41 => o16,
            _ => false,
        };
        ok.then(|| self.modrm(at + 1, 0)).flatten()
    }

    /// 0F 3A xx: PALIGNR (with or without 66), SSE4.1/4.2 (66).
    fn three_byte_3a(&self, at: usize, o16: bool, plain: bool) -> Option<Insn> {
        let op = *self.code.get(at)?;
        let ok = match op {
            0x0f => o16 || plain,
            0x08..=0x0e | 0x14..=0x17 | 0x20..=0x22 | 0x40..=0x42 | 0x60..=0x63 => o16,
            _ => false,
        };
        ok.then(|| self.modrm(at + 1, 1)).flatten()
    }
}

/// The same record for an instruction iced-x86 decoded (`decoder` is the
/// one that decoded it): where the small decoder refuses, and as the
/// reference its test checks it against.
pub fn from_iced(decoder: &iced_x86::Decoder, i: &iced_x86::Instruction) -> Insn {
    let direct = i.is_jcc_short_or_near()
        || i.is_loop()
        || i.is_loopcc()
        || i.is_jcx_short()
        || i.is_jmp_short_or_near()
        || i.is_call_near();
    let flow = match i.flow_control() {
        _ if i.is_jmp_short_or_near() => Flow::Jmp(i.near_branch_target()),
        _ if i.is_call_near() => Flow::Call(i.near_branch_target()),
        _ if direct => Flow::Jcc(i.near_branch_target()),
        iced_x86::FlowControl::Next => Flow::Next,
        _ => Flow::Other,
    };
    let offsets = decoder.get_constant_offsets(i);
    let rip_disp = (i.is_ip_rel_memory_operand() && offsets.displacement_size() == 4)
        .then(|| offsets.displacement_offset());
    Insn {
        len: i.len(),
        flow,
        rip_disp,
    }
}

/// Decodes a whole function, `None` if any part of it is outside the
/// subset.
pub fn decode_all(code: &[u8], ip: u64) -> Option<Vec<(usize, Insn)>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < code.len() {
        let insn = decode(&code[at..], ip + at as u64)?;
        out.push((at, insn));
        at += insn.len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    #[test]
    fn decodes_the_usual_prologues() {
        let cases: &[(&[u8], usize)] = &[
            (&[0xf3, 0x0f, 0x1e, 0xfa], 4),                       // endbr64
            (&[0x41, 0x55], 2),                                   // push r13
            (&[0x49, 0x89, 0xf4], 3),                             // mov r12, rsi
            (&[0x48, 0x83, 0xec, 0x08], 4),                       // sub rsp, 8
            (&[0x48, 0xc7, 0x06, 0, 0, 0, 0], 7),                 // mov qword [rsi], 0
            (&[0xba, 6, 0, 0, 0], 5),                             // mov edx, 6
            (&[0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8], 10),          // movabs rax, imm64
            (&[0x66, 0x0f, 0x1f, 0x44, 0, 0], 6),                 // nopw
            (&[0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0], 10), // nopw cs:
        ];
        for (bytes, len) in cases {
            let insn = decode(bytes, 0).unwrap_or_else(|| panic!("{bytes:x?}"));
            assert_eq!((insn.len, insn.flow), (*len, Flow::Next), "{bytes:x?}");
        }
        let lea = decode(&[0x48, 0x8d, 0x05, 0x00, 0x01, 0, 0], 0x1000).unwrap();
        assert_eq!(lea.rip_disp, Some(3));
        let jmp = decode(&[0xe9, 0xab, 0xfa, 0xff, 0xff], 0xa6040).unwrap();
        assert_eq!(jmp.flow, Flow::Jmp(0xa5af0));
        assert_eq!(
            decode(&[0xeb, 0xfc], 0x1006).unwrap().flow,
            Flow::Jmp(0x1004)
        );
        assert_eq!(decode(&[0xc3], 0).unwrap().flow, Flow::Other);
        for refused in [
            &[0xc5, 0xf8, 0x77][..],
            &[0x62, 0xf1],
            &[0x0f, 0x0f, 0xc0, 0x90],
        ] {
            assert_eq!(decode(refused, 0), None, "{refused:x?}");
        }
    }

    /// Where this decoder answers, iced-x86 (a complete decoder) says the
    /// same: length, direct branch and target, RIP-relative displacement,
    /// and an instruction said to go on to the next really does. Checked
    /// on every instruction of the executable segments of real programs
    /// and libraries on this machine.
    #[test]
    fn agrees_with_iced_on_real_code() {
        let mut checked = 0;
        // Required (installed by tests/run.sh, or part of every system),
        // then more code where the machine has it.
        let required = [
            "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/bin/sqlite3",
            "/proc/self/exe",
        ];
        let extra = [
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
            "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
            "/usr/lib/x86_64-linux-gnu/libz.so.1",
        ];
        for path in required.into_iter().chain(extra) {
            let Ok(elf) = crate::elf::Elf::open(std::path::Path::new(path)) else {
                let needed = required.contains(&path) && std::env::var_os("CI").is_some();
                assert!(!needed, "{path} is missing");
                continue;
            };
            let (mut ours, mut all) = (0usize, 0usize);
            for load in elf.loads().unwrap().iter().filter(|l| l.flags & 1 != 0) {
                let start = load.offset as usize;
                let code = &elf.bytes()[start..start + load.filesz as usize];
                let mut decoder = Decoder::with_ip(64, code, load.vaddr, DecoderOptions::NONE);
                while decoder.can_decode() {
                    let at = (decoder.ip() - load.vaddr) as usize;
                    let theirs = decoder.decode();
                    all += 1;
                    let Some(mine) = decode(&code[at..], theirs.ip()) else {
                        continue;
                    };
                    ours += 1;
                    let what = format!(
                        "{path} +{:#x}: {:?} len {} {:x?}",
                        theirs.ip(),
                        theirs.code(),
                        theirs.len(),
                        mine
                    );
                    assert!(!theirs.is_invalid(), "{what}");
                    let expected = from_iced(&decoder, &theirs);
                    assert_eq!(mine.len, expected.len, "{what}");
                    match mine.flow {
                        // Treating an instruction that goes on as "other"
                        // only makes the hook more careful; never the
                        // reverse, and never for a direct branch.
                        Flow::Other => {
                            assert!(matches!(expected.flow, Flow::Next | Flow::Other), "{what}")
                        }
                        flow => assert_eq!(flow, expected.flow, "{what}"),
                    }
                    assert_eq!(mine.rip_disp, expected.rip_disp, "{what}");
                    checked += 1;
                }
            }
            eprintln!("{path}: decoded {ours} of {all} instructions");
            // The subset is the code compilers emit: nearly all of it.
            assert!(
                ours * 100 >= all * 90,
                "{path}: decoded {ours} of {all} instructions"
            );
        }
        assert!(checked > 100_000, "checked {checked}");
    }
}
