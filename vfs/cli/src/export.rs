//! `vfscope export TRACE... --format chrome -o FILE.json`: a recording as
//! a timeline in the Chrome trace-event format (the one ui.perfetto.dev
//! and chrome://tracing read).
//!
//! Streamed: records are read one at a time and events written as they
//! come; only per-thread state (the open transaction, a lock wait) is
//! held. What becomes what:
//! - a track per process (`pid`) and thread (`tid`), named;
//! - every VFS call a complete slice (`ph: X`, category `vfs`) named
//!   `op file_kind`, with the database, offset, size, result and injected
//!   delay as arguments;
//! - a transaction (category `txn`) from the database file's lock leaving
//!   NONE to its return to NONE, enclosing its calls on the same thread,
//!   and inside it a `write` slice while the lock is RESERVED or above (in
//!   WAL mode a connection keeps SHARED between transactions, so there the
//!   slice is the connection's read-lock span);
//! - lock waits: from the first BUSY answer to the grant (or to the last
//!   BUSY, when the thread gave up), as async slices (`ph: b/e`, category
//!   `lock_wait`) on a track of their own, since a wait spans the busy
//!   handler's unlock and retry;
//! - counters: the WAL's size per database, and the latency model's
//!   injected delay per call.
//!
//! Times are µs from the earliest trace's start on CLOCK_REALTIME, so the
//! traces of one run (TRACE, TRACE.PID of forked children) line up.

use anyhow::{bail, Context, Result};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use vfscope_segment::trace::{Record, TraceReader, TracedCall};
use vfscope_segment::{FileKind, LockLevel, Op};

/// How many events of each kind an export wrote.
#[derive(Debug, Default)]
pub struct Exported {
    pub calls: u64,
    pub transactions: u64,
    pub lock_waits: u64,
}

/// Writes the Chrome trace of `traces` to `out`.
pub fn export_chrome(traces: &[PathBuf], out: &Path) -> Result<Exported> {
    if traces.is_empty() {
        bail!("vfscope export: no trace given");
    }
    let mut readers = Vec::new();
    for path in traces {
        readers.push(
            TraceReader::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
    }
    let base_ns = readers
        .iter()
        .map(|r| r.header().start_realtime_ns)
        .min()
        .unwrap_or(0);
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let mut w = Events::new(BufWriter::with_capacity(1 << 16, file));
    w.raw("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    let mut exported = Exported::default();
    for (reader, path) in readers.iter_mut().zip(traces) {
        let mut process = Process::new(reader.header(), base_ns);
        w.meta(
            process.pid,
            None,
            "process_name",
            &format!(
                "pid {} (SQLite {})",
                process.pid,
                reader.header().sqlite_version
            ),
        )?;
        while let Some(record) = reader
            .next_record()
            .with_context(|| format!("cannot read {}", path.display()))?
        {
            match record {
                Record::Call(c) => process.call(&mut w, &c, &mut exported)?,
                Record::Db(index, path) => {
                    process.dbs.insert(index, path);
                }
                Record::End(_) => {}
            }
        }
        process.finish(&mut w, &mut exported)?;
    }
    w.raw("\n]}\n")?;
    w.out.flush()?;
    Ok(exported)
}

/// The JSON event writer: one event per line, commas between.
struct Events<W: Write> {
    out: W,
    first: bool,
    line: String,
}

impl<W: Write> Events<W> {
    fn new(out: W) -> Self {
        Events {
            out,
            first: true,
            line: String::with_capacity(256),
        }
    }

    fn raw(&mut self, text: &str) -> std::io::Result<()> {
        self.out.write_all(text.as_bytes())
    }

    /// Writes the event built in `self.line`.
    fn emit(&mut self) -> std::io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        self.out.write_all(self.line.as_bytes())
    }

    fn meta(&mut self, pid: u32, tid: Option<u32>, name: &str, value: &str) -> std::io::Result<()> {
        self.line.clear();
        let _ = write!(self.line, "{{\"ph\":\"M\",\"pid\":{pid},");
        if let Some(tid) = tid {
            let _ = write!(self.line, "\"tid\":{tid},");
        }
        let _ = write!(self.line, "\"name\":\"{name}\",\"args\":{{\"name\":");
        json_string(&mut self.line, value);
        self.line.push_str("}}");
        self.emit()
    }
}

/// A JSON string literal of `s`.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// µs with ns precision.
fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// How long after a BUSY answer a new attempt still continues the wait.
const RETRY_WINDOW_NS: u64 = 1_000_000_000;

/// Per-thread state of one database's file lock.
#[derive(Default)]
struct LockState {
    level: u8,
    /// When the transaction (lock above NONE) began.
    txn_since: Option<u64>,
    /// When the write lock (RESERVED and up) was taken.
    write_since: Option<u64>,
    /// A lock wait: when the first BUSY came, the last BUSY's end, the
    /// level waited for.
    wait: Option<(u64, u64, u8)>,
}

struct Process {
    pid: u32,
    /// Added to a monotonic time to place it on the shared timeline.
    shift: i64,
    dbs: HashMap<u16, String>,
    threads: HashSet<u32>,
    locks: HashMap<(u32, u16), LockState>,
    wal_size: HashMap<u16, u64>,
    waits: u64,
}

impl Process {
    fn new(h: &vfscope_segment::trace::TraceHeader, base_ns: u64) -> Self {
        Process {
            pid: h.pid,
            shift: h.start_realtime_ns as i64 - h.start_monotonic_ns as i64 - base_ns as i64,
            dbs: HashMap::new(),
            threads: HashSet::new(),
            locks: HashMap::new(),
            wal_size: HashMap::new(),
            waits: 0,
        }
    }

    fn at(&self, monotonic_ns: u64) -> u64 {
        (monotonic_ns as i64 + self.shift).max(0) as u64
    }

    fn db_name(&self, db: u16) -> String {
        match self.dbs.get(&db) {
            Some(path) => path.rsplit('/').next().unwrap_or(path).to_string(),
            None => "-".to_string(),
        }
    }

    /// A complete slice: `what` is (category, name), `span` (start, end)
    /// in monotonic ns.
    fn slice<W: Write>(
        &self,
        w: &mut Events<W>,
        tid: u32,
        (cat, name): (&str, &str),
        (start, end): (u64, u64),
        args: &str,
    ) -> std::io::Result<()> {
        w.line.clear();
        let _ = write!(
            w.line,
            "{{\"ph\":\"X\",\"cat\":\"{cat}\",\"name\":\"{name}\",\"pid\":{},\"tid\":{tid},\"ts\":{},\"dur\":{},\"args\":{{{args}}}}}",
            self.pid,
            us(self.at(start)),
            us(end.saturating_sub(start)),
        );
        w.emit()
    }

    fn call<W: Write>(
        &mut self,
        w: &mut Events<W>,
        c: &TracedCall,
        n: &mut Exported,
    ) -> Result<()> {
        if self.threads.insert(c.tid) {
            w.meta(
                self.pid,
                Some(c.tid),
                "thread_name",
                &format!("thread {}", c.tid),
            )?;
        }
        let db = self.db_name(c.db);
        let mut args = String::new();
        args.push_str("\"db\":");
        json_string(&mut args, &db);
        match c.op {
            Op::Lock | Op::Unlock => {
                let level = |i: u64| LockLevel::from_index(i as usize).map_or("?", |l| l.name());
                let _ = write!(
                    args,
                    ",\"from\":\"{}\",\"to\":\"{}\"",
                    level(c.size as u64),
                    level(c.offset)
                );
            }
            Op::FileSize => {
                let _ = write!(args, ",\"size\":{}", c.offset);
            }
            _ => {
                let _ = write!(args, ",\"offset\":{},\"size\":{}", c.offset, c.size);
            }
        }
        let _ = write!(
            args,
            ",\"rc\":{},\"injected_delay_ns\":{}",
            c.rc, c.delay_ns
        );
        let name = format!("{} {}", c.op.name(), c.kind.name());
        self.slice(w, c.tid, ("vfs", &name), (c.start_ns, c.end_ns()), &args)?;
        n.calls += 1;
        if c.delay_ns > 0 {
            w.line.clear();
            let _ = write!(
                w.line,
                "{{\"ph\":\"C\",\"name\":\"injected delay\",\"pid\":{},\"ts\":{},\"args\":{{\"ns\":{}}}}}",
                self.pid,
                us(self.at(c.start_ns)),
                c.delay_ns
            );
            w.emit()?;
        }
        if c.kind == FileKind::Wal {
            self.wal_counter(w, c)?;
        }
        if c.kind == FileKind::MainDb && matches!(c.op, Op::Lock | Op::Unlock) {
            self.lock_call(w, c, n)?;
        }
        Ok(())
    }

    fn wal_counter<W: Write>(&mut self, w: &mut Events<W>, c: &TracedCall) -> std::io::Result<()> {
        let size = self.wal_size.entry(c.db).or_insert(0);
        let new = match c.op {
            Op::Write if c.rc == 0 => (*size).max(c.offset + c.size as u64),
            Op::Truncate if c.rc == 0 => c.offset,
            Op::FileSize if c.rc == 0 => c.offset,
            _ => *size,
        };
        if new == *size {
            return Ok(());
        }
        *size = new;
        let name = format!("WAL size {}", self.db_name(c.db));
        w.line.clear();
        let _ = write!(w.line, "{{\"ph\":\"C\",\"name\":");
        json_string(&mut w.line, &name);
        let _ = write!(
            w.line,
            ",\"pid\":{},\"ts\":{},\"args\":{{\"bytes\":{new}}}}}",
            self.pid,
            us(self.at(c.end_ns()))
        );
        w.emit()
    }

    /// The database file's lock level changes: transactions, write spans,
    /// lock waits.
    fn lock_call<W: Write>(
        &mut self,
        w: &mut Events<W>,
        c: &TracedCall,
        n: &mut Exported,
    ) -> Result<()> {
        let to = c.offset.min(4) as u8;
        let reserved = LockLevel::Reserved as u8;
        let mut state = self.locks.remove(&(c.tid, c.db)).unwrap_or_default();
        let busy = c.rc & 0xff == 5;
        // A wait whose thread has not asked again within a second was
        // given up (SQLite's busy handler retries well within that).
        if let Some((since, last, _)) = state.wait {
            if c.op == Op::Lock && c.start_ns.saturating_sub(last) > RETRY_WINDOW_NS {
                self.wait(w, c.tid, c.db, since, last, "gave up")?;
                n.lock_waits += 1;
                state.wait = None;
            }
        }
        if c.op == Op::Lock && busy {
            let (since, _, level) = state.wait.unwrap_or((c.start_ns, 0, to));
            state.wait = Some((since, c.end_ns(), level.max(to)));
        }
        if c.rc == 0 {
            if c.op == Op::Lock {
                if let Some((since, _, level)) = state.wait {
                    if to >= level {
                        self.wait(w, c.tid, c.db, since, c.end_ns(), "granted")?;
                        n.lock_waits += 1;
                        state.wait = None;
                    }
                }
                if state.level == 0 && to > 0 {
                    state.txn_since = Some(c.start_ns);
                }
                if state.level < reserved && to >= reserved {
                    state.write_since = Some(c.start_ns);
                }
            }
            if c.op == Op::Unlock || to > state.level {
                if to < reserved {
                    if let Some(since) = state.write_since.take() {
                        self.slice(
                            w,
                            c.tid,
                            ("txn", "write"),
                            (since, c.end_ns()),
                            &self.db_arg(c.db),
                        )?;
                    }
                }
                if to == 0 {
                    if let Some(since) = state.txn_since.take() {
                        self.slice(
                            w,
                            c.tid,
                            ("txn", "transaction"),
                            (since, c.end_ns()),
                            &self.db_arg(c.db),
                        )?;
                        n.transactions += 1;
                    }
                }
                state.level = to;
            }
        }
        self.locks.insert((c.tid, c.db), state);
        Ok(())
    }

    fn db_arg(&self, db: u16) -> String {
        let mut args = "\"db\":".to_string();
        json_string(&mut args, &self.db_name(db));
        args
    }

    fn wait<W: Write>(
        &mut self,
        w: &mut Events<W>,
        tid: u32,
        db: u16,
        start: u64,
        end: u64,
        outcome: &str,
    ) -> std::io::Result<()> {
        self.waits += 1;
        let id = format!("{}.{}", self.pid, self.waits);
        let name = format!("lock wait (thread {tid})");
        for (ph, at, args) in [
            (
                "b",
                start,
                format!(
                    ",\"args\":{{{},\"outcome\":\"{outcome}\"}}",
                    self.db_arg(db)
                ),
            ),
            ("e", end, String::new()),
        ] {
            w.line.clear();
            let _ = write!(
                w.line,
                "{{\"ph\":\"{ph}\",\"cat\":\"lock_wait\",\"id\":\"{id}\",\"name\":\"{name}\",\"pid\":{},\"tid\":{tid},\"ts\":{}{args}}}",
                self.pid,
                us(self.at(at)),
            );
            w.emit()?;
        }
        Ok(())
    }

    /// Waits never granted end at their last BUSY.
    fn finish<W: Write>(&mut self, w: &mut Events<W>, n: &mut Exported) -> std::io::Result<()> {
        let mut open: Vec<_> = self
            .locks
            .iter()
            .filter_map(|(&(tid, db), s)| s.wait.map(|(since, last, _)| (tid, db, since, last)))
            .collect();
        open.sort_unstable();
        for (tid, db, since, last) in open {
            self.wait(w, tid, db, since, last, "gave up")?;
            n.lock_waits += 1;
        }
        Ok(())
    }
}
