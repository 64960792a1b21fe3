//! The trace file: every VFS call of one process, for `vfscope replay`,
//! `vfscope report FILE` and `vfstop --replay`.
//!
//! Version 3, little-endian. A 64-byte header (magic `VFSTRACE`, version,
//! header length, pid, process start on CLOCK_REALTIME and
//! CLOCK_MONOTONIC, SQLite version), then records, each a tag byte and a
//! payload:
//! - `1` call, 48 bytes: start (monotonic ns), latency ns, offset, injected
//!   delay ns, size u32, rc i32, tid u32, op u8, file kind u8, db u16;
//! - `2` database: index u16, path length u16, the path;
//! - `3` end: monotonic ns at the end, calls written u64, calls dropped u64;
//! - `4` WAL frame (version 2), 8 bytes, just before the call that wrote
//!   the frame's 24-byte header: the frame's page number u32 and, for a
//!   commit frame, the database's size in pages after the commit u32 (0
//!   otherwise), as the header says them;
//! - `5` LZ4 size (version 3), 4 bytes, just before the call that wrote a
//!   WAL page the recorder sampled: the size u32 of the page's data
//!   compressed as one LZ4 block (what a replicator that compresses pages
//!   with LZ4 would store of it).
//!
//! Versions 1 and 2 (no frame or LZ4 records) read as version 3 without
//! them.
//!
//! A trace without its end record was cut short (the process was killed);
//! the reader keeps every whole record before the cut and says so.

use crate::ids::{FileKind, Op};
pub use crate::wal_frame::WalFrame;
use std::fmt;
use std::io::{self, Write};
use std::path::Path;

pub const TRACE_MAGIC: [u8; 8] = *b"VFSTRACE";
pub const TRACE_VERSION: u32 = 3;
const HEADER_LEN: usize = 64;
const TAG_CALL: u8 = 1;
const TAG_DB: u8 = 2;
const TAG_END: u8 = 3;
const TAG_FRAME: u8 = 4;
const TAG_LZ4: u8 = 5;
const CALL_LEN: usize = 48;

/// The process a trace belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceHeader {
    pub pid: u32,
    pub start_realtime_ns: u64,
    pub start_monotonic_ns: u64,
    pub sqlite_version: String,
}

/// One recorded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracedCall {
    /// CLOCK_MONOTONIC at the call's start.
    pub start_ns: u64,
    pub latency_ns: u64,
    pub offset: u64,
    /// Modelled latency if a latency model delayed the call, else 0.
    pub delay_ns: u64,
    pub size: u32,
    pub rc: i32,
    pub tid: u32,
    pub op: Op,
    pub kind: FileKind,
    pub db: u16,
    /// The WAL frame whose header this call wrote.
    pub frame: Option<WalFrame>,
    /// For a WAL page write the recorder sampled: its data's size as one
    /// LZ4 block.
    pub lz4_size: Option<u32>,
}

impl TracedCall {
    pub fn end_ns(&self) -> u64 {
        self.start_ns + self.latency_ns
    }
}

/// How a trace ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceEnd {
    /// CLOCK_MONOTONIC when the trace was closed.
    pub end_ns: u64,
    pub written: u64,
    /// Calls lost because the writer could not keep up.
    pub dropped: u64,
}

/// A whole trace, read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub header: TraceHeader,
    pub calls: Vec<TracedCall>,
    /// `(index, path)` of every database the calls name.
    pub dbs: Vec<(u16, String)>,
    /// `None` when the trace was cut short.
    pub end: Option<TraceEnd>,
}

impl Trace {
    /// A database's file name, as the segment's labels give it.
    /// The trace of one database's calls only (its files': main, journal,
    /// WAL), named by its file name or path as the trace has it.
    pub fn only_database(&self, name: &str) -> Result<Trace, String> {
        let found = self
            .dbs
            .iter()
            .find(|(i, path)| path == name || self.db_label(*i) == name);
        let Some((index, path)) = found else {
            let names: Vec<String> = self.dbs.iter().map(|(i, _)| self.db_label(*i)).collect();
            return Err(format!(
                "no database {name:?} in the trace (it has: {})",
                names.join(", ")
            ));
        };
        Ok(Trace {
            calls: self
                .calls
                .iter()
                .filter(|c| c.db == *index)
                .copied()
                .collect(),
            dbs: vec![(*index, path.clone())],
            header: self.header.clone(),
            end: self.end,
        })
    }

    pub fn db_label(&self, index: u16) -> String {
        match self.dbs.iter().find(|(i, _)| *i == index) {
            Some((_, path)) => path.rsplit('/').next().unwrap_or(path).to_string(),
            None => "-".to_string(),
        }
    }
}

/// Why a file is not a usable trace.
#[derive(Debug)]
pub enum TraceError {
    Io(io::Error),
    /// Not a trace, or a version this build does not read.
    Format(String),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(e) => write!(f, "{e}"),
            TraceError::Format(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for TraceError {}

/// Writes a trace to any sink.
pub struct TraceWriter<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> TraceWriter<W> {
    pub fn new(mut out: W, header: &TraceHeader) -> io::Result<Self> {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&TRACE_MAGIC);
        h[8..12].copy_from_slice(&TRACE_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..20].copy_from_slice(&header.pid.to_le_bytes());
        h[24..32].copy_from_slice(&header.start_realtime_ns.to_le_bytes());
        h[32..40].copy_from_slice(&header.start_monotonic_ns.to_le_bytes());
        let version = header.sqlite_version.as_bytes();
        let n = version.len().min(24);
        h[40..40 + n].copy_from_slice(&version[..n]);
        out.write_all(&h)?;
        Ok(TraceWriter { out, written: 0 })
    }

    pub fn call(&mut self, c: &TracedCall) -> io::Result<()> {
        if let Some(f) = c.frame {
            let mut r = [0u8; 9];
            r[0] = TAG_FRAME;
            r[1..5].copy_from_slice(&f.page.to_le_bytes());
            r[5..9].copy_from_slice(&f.commit_size.to_le_bytes());
            self.out.write_all(&r)?;
        }
        if let Some(size) = c.lz4_size {
            let mut r = [0u8; 5];
            r[0] = TAG_LZ4;
            r[1..5].copy_from_slice(&size.to_le_bytes());
            self.out.write_all(&r)?;
        }
        let mut r = [0u8; 1 + CALL_LEN];
        r[0] = TAG_CALL;
        r[1..9].copy_from_slice(&c.start_ns.to_le_bytes());
        r[9..17].copy_from_slice(&c.latency_ns.to_le_bytes());
        r[17..25].copy_from_slice(&c.offset.to_le_bytes());
        r[25..33].copy_from_slice(&c.delay_ns.to_le_bytes());
        r[33..37].copy_from_slice(&c.size.to_le_bytes());
        r[37..41].copy_from_slice(&c.rc.to_le_bytes());
        r[41..45].copy_from_slice(&c.tid.to_le_bytes());
        r[45] = c.op as u8;
        r[46] = c.kind as u8;
        r[47..49].copy_from_slice(&c.db.to_le_bytes());
        self.written += 1;
        self.out.write_all(&r)
    }

    pub fn db(&mut self, index: u16, path: &str) -> io::Result<()> {
        let path = &path.as_bytes()[..path.len().min(u16::MAX as usize)];
        self.out.write_all(&[TAG_DB])?;
        self.out.write_all(&index.to_le_bytes())?;
        self.out.write_all(&(path.len() as u16).to_le_bytes())?;
        self.out.write_all(path)
    }

    /// Writes the end record and flushes; returns the sink.
    pub fn finish(mut self, end_ns: u64, dropped: u64) -> io::Result<W> {
        let mut r = [0u8; 25];
        r[0] = TAG_END;
        r[1..9].copy_from_slice(&end_ns.to_le_bytes());
        r[9..17].copy_from_slice(&self.written.to_le_bytes());
        r[17..25].copy_from_slice(&dropped.to_le_bytes());
        self.out.write_all(&r)?;
        self.out.flush()?;
        Ok(self.out)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads a trace file.
pub fn read_trace(path: &Path) -> Result<Trace, TraceError> {
    collect(TraceReader::open(path)?)
}

/// Whether `bytes` start like a trace.
pub fn is_trace(bytes: &[u8]) -> bool {
    bytes.starts_with(&TRACE_MAGIC)
}

/// Parses a whole trace. Damage after the header ends the records there
/// (the trace reads as cut short); it never panics.
pub fn parse_trace(bytes: &[u8]) -> Result<Trace, TraceError> {
    collect(TraceReader::new(bytes)?)
}

/// Every record of a reader, held.
fn collect(mut reader: TraceReader<impl io::Read>) -> Result<Trace, TraceError> {
    let mut trace = Trace {
        header: reader.header().clone(),
        ..Trace::default()
    };
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Call(c) => trace.calls.push(c),
            Record::Db(index, path) => trace.dbs.push((index, path)),
            Record::End(end) => trace.end = Some(end),
        }
    }
    Ok(trace)
}

/// One record of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Call(TracedCall),
    Db(u16, String),
    End(TraceEnd),
}

/// Reads a trace record by record, holding one at a time (for traces too
/// big to hold: `vfscope export`). Damage ends the records, as a cut does.
pub struct TraceReader<R: io::Read> {
    input: R,
    header: TraceHeader,
    done: bool,
    /// A frame record read, for the call record that follows it.
    frame: Option<WalFrame>,
    /// An LZ4 size record read, for the call record that follows it.
    lz4_size: Option<u32>,
}

impl TraceReader<io::BufReader<std::fs::File>> {
    /// Opens a trace file.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let file = std::fs::File::open(path).map_err(TraceError::Io)?;
        TraceReader::new(io::BufReader::with_capacity(1 << 16, file)).map_err(|e| match e {
            TraceError::Format(why) => TraceError::Format(format!("{}: {why}", path.display())),
            other => other,
        })
    }
}

impl<R: io::Read> TraceReader<R> {
    /// Reads the header.
    pub fn new(mut input: R) -> Result<Self, TraceError> {
        let bad = |why: String| Err(TraceError::Format(why));
        let mut h = [0u8; HEADER_LEN];
        if read_full(&mut input, &mut h).map_err(TraceError::Io)? < HEADER_LEN || !is_trace(&h) {
            return bad("not a vfscope trace (no VFSTRACE header)".into());
        }
        let version = u32_at(&h, 8);
        if !(1..=TRACE_VERSION).contains(&version) {
            return bad(format!(
                "trace format version {version}; this build reads versions 1 to {TRACE_VERSION}"
            ));
        }
        let header_len = u32_at(&h, 12) as usize;
        if header_len < HEADER_LEN {
            return bad(format!("bad header length {header_len}"));
        }
        // A longer header (a later minor version) is skipped over.
        let extra = (header_len - HEADER_LEN) as u64;
        if io::copy(&mut io::Read::take(&mut input, extra), &mut io::sink())
            .map_err(TraceError::Io)?
            < extra
        {
            return bad(format!("bad header length {header_len}"));
        }
        let version_bytes = &h[40..64];
        let end = version_bytes.iter().position(|&b| b == 0).unwrap_or(24);
        Ok(TraceReader {
            input,
            header: TraceHeader {
                pid: u32_at(&h, 16),
                start_realtime_ns: u64_at(&h, 24),
                start_monotonic_ns: u64_at(&h, 32),
                sqlite_version: String::from_utf8_lossy(&version_bytes[..end]).into_owned(),
            },
            done: false,
            frame: None,
            lz4_size: None,
        })
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// The next record; `None` after the end record, at the end of the
    /// input, or at damage.
    pub fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        if self.done {
            return Ok(None);
        }
        let record = self.read_record().map_err(TraceError::Io)?;
        self.done = matches!(record, None | Some(Record::End(_)));
        Ok(record)
    }

    fn read_record(&mut self) -> io::Result<Option<Record>> {
        let mut tag = [0u8; 1];
        if read_full(&mut self.input, &mut tag)? == 0 {
            return Ok(None);
        }
        match tag[0] {
            TAG_CALL => {
                let mut r = [0u8; CALL_LEN];
                if read_full(&mut self.input, &mut r)? < CALL_LEN {
                    return Ok(None);
                }
                let (Some(op), Some(kind)) = (
                    Op::from_index(r[44] as usize),
                    FileKind::from_index(r[45] as usize),
                ) else {
                    return Ok(None);
                };
                Ok(Some(Record::Call(TracedCall {
                    start_ns: u64_at(&r, 0),
                    latency_ns: u64_at(&r, 8),
                    offset: u64_at(&r, 16),
                    delay_ns: u64_at(&r, 24),
                    size: u32_at(&r, 32),
                    rc: u32_at(&r, 36) as i32,
                    tid: u32_at(&r, 40),
                    op,
                    kind,
                    db: u16_at(&r, 46),
                    frame: self.frame.take(),
                    lz4_size: self.lz4_size.take(),
                })))
            }
            TAG_FRAME => {
                let mut r = [0u8; 8];
                if read_full(&mut self.input, &mut r)? < 8 {
                    return Ok(None);
                }
                // A frame belongs to the call after it: a second frame
                // first, or page 0, is damage.
                let frame = WalFrame::unpack((u32_at(&r, 0) as u64) << 32 | u32_at(&r, 4) as u64);
                if frame.is_none() || self.frame.is_some() {
                    return Ok(None);
                }
                self.frame = frame;
                self.read_record()
            }
            TAG_LZ4 => {
                let mut r = [0u8; 4];
                if read_full(&mut self.input, &mut r)? < 4 {
                    return Ok(None);
                }
                // Like a frame: belongs to the next call, one at a time.
                if self.lz4_size.is_some() {
                    return Ok(None);
                }
                self.lz4_size = Some(u32_at(&r, 0));
                self.read_record()
            }
            TAG_DB => {
                let mut r = [0u8; 4];
                if read_full(&mut self.input, &mut r)? < 4 {
                    return Ok(None);
                }
                let mut path = vec![0u8; u16_at(&r, 2) as usize];
                if read_full(&mut self.input, &mut path)? < path.len() {
                    return Ok(None);
                }
                let path = String::from_utf8_lossy(&path).into_owned();
                Ok(Some(Record::Db(u16_at(&r, 0), path)))
            }
            TAG_END => {
                let mut r = [0u8; 24];
                if read_full(&mut self.input, &mut r)? < 24 {
                    return Ok(None);
                }
                Ok(Some(Record::End(TraceEnd {
                    end_ns: u64_at(&r, 0),
                    written: u64_at(&r, 8),
                    dropped: u64_at(&r, 16),
                })))
            }
            _ => Ok(None),
        }
    }
}

/// Reads until `buf` is full or the input ends; how many bytes it got.
fn read_full(input: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(i: u64) -> TracedCall {
        TracedCall {
            start_ns: 1_000 + i * 10,
            latency_ns: 5 + i,
            offset: i * 4096,
            delay_ns: i % 3,
            size: 4096,
            rc: if i == 2 { 266 } else { 0 },
            tid: 7 + (i % 2) as u32,
            op: Op::ALL[(i as usize) % Op::COUNT],
            kind: FileKind::ALL[(i as usize) % FileKind::COUNT],
            db: (i % 5) as u16,
            frame: (i % 4 == 1).then_some(WalFrame {
                page: i as u32 + 1,
                commit_size: if i % 8 == 1 { 0 } else { 40 },
            }),
            lz4_size: (i % 4 == 2).then_some(100 + i as u32),
        }
    }

    fn header() -> TraceHeader {
        TraceHeader {
            pid: 42,
            start_realtime_ns: 1_700_000_000_000_000_000,
            start_monotonic_ns: 900,
            sqlite_version: "3.40.1".into(),
        }
    }

    fn written(n: u64) -> Vec<u8> {
        let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
        w.db(0, "/data/app.db").unwrap();
        for i in 0..n {
            w.call(&call(i)).unwrap();
        }
        w.finish(99_999, 3).unwrap()
    }

    #[test]
    fn a_trace_round_trips() {
        let t = parse_trace(&written(100)).unwrap();
        assert_eq!(t.header, header());
        assert_eq!(t.calls, (0..100).map(call).collect::<Vec<_>>());
        assert_eq!(t.dbs, [(0, "/data/app.db".to_string())]);
        assert_eq!(t.db_label(0), "app.db");
        assert_eq!(
            t.end,
            Some(TraceEnd {
                end_ns: 99_999,
                written: 100,
                dropped: 3
            })
        );
    }

    #[test]
    fn versions_1_and_2_read_without_frames_or_lz4_sizes() {
        let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
        let plain = |i| TracedCall {
            frame: None,
            lz4_size: None,
            ..call(i)
        };
        for i in 0..10 {
            w.call(&plain(i)).unwrap();
        }
        let mut bytes = w.finish(99_999, 0).unwrap();
        for version in [1u32, 2] {
            bytes[8..12].copy_from_slice(&version.to_le_bytes());
            let t = parse_trace(&bytes).unwrap();
            assert_eq!(t.calls, (0..10).map(plain).collect::<Vec<_>>());
        }
    }

    #[test]
    fn damage_is_an_error_or_a_cut_never_a_panic() {
        let bytes = written(10);
        for cut in 0..bytes.len() {
            let result = parse_trace(&bytes[..cut]);
            if cut < HEADER_LEN {
                assert!(result.is_err());
            } else {
                let t = result.unwrap();
                assert!(t.end.is_none() && t.calls.len() <= 10);
            }
        }
        let mut wrong = bytes.clone();
        wrong[8] = 9;
        assert!(parse_trace(&wrong)
            .unwrap_err()
            .to_string()
            .contains("version 9"));
        let mut seed = 12345u64;
        for _ in 0..2000 {
            let mut junk = bytes.clone();
            for _ in 0..4 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (seed >> 33) as usize % junk.len();
                junk[at] = (seed >> 17) as u8;
            }
            let _ = parse_trace(&junk);
        }
    }
}
