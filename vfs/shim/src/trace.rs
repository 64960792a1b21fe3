//! Recording every call to a trace file (`VFSCOPE_TRACE`), off the call
//! path: a call claims a slot of a bounded queue (a compare-and-swap and
//! seven stores); a background thread drains the queue every 10 ms into a
//! buffered file. When the queue is full the call is not recorded and the
//! loss is counted, in the segment and in the trace's end record, never
//! silent. At exit the rest is drained and the end record written.
//!
//! The queue is Vyukov's bounded MPMC queue with one consumer; every slot's
//! payload is atomics, so no unsafe code is needed.

use crate::recorder;
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::*};
use std::sync::Mutex;
use std::time::Duration;
use vfscope_segment::trace::{TraceHeader, TraceWriter, TracedCall, WalFrame};
use vfscope_segment::{monotonic_ns, FileKind, Layout, Op, ProcessMeta};

struct Slot {
    seq: AtomicU64,
    words: [AtomicU64; 7],
}

pub struct Tracer {
    slots: Box<[Slot]>,
    mask: u64,
    head: AtomicU64,
    dropped: AtomicU64,
    stop: AtomicBool,
    sink: Mutex<Option<Sink>>,
}

struct Sink {
    writer: TraceWriter<BufWriter<File>>,
    tail: u64,
    /// Databases whose path record is written (bit per db index).
    dbs_written: u64,
}

static TRACER: AtomicPtr<Tracer> = AtomicPtr::new(std::ptr::null_mut());

/// The tracer, when tracing.
#[inline(always)]
pub fn tracer() -> Option<&'static Tracer> {
    let p = TRACER.load(Acquire);
    // SAFETY: TRACER only holds tracers leaked by `start`, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

impl Tracer {
    /// Queues one call; counts it as dropped when the queue is full.
    #[inline]
    pub fn push(&self, c: &TracedCall) {
        let mut pos = self.head.load(Relaxed);
        loop {
            let slot = &self.slots[(pos & self.mask) as usize];
            let seq = slot.seq.load(Acquire);
            if seq == pos {
                match self
                    .head
                    .compare_exchange_weak(pos, pos + 1, Relaxed, Relaxed)
                {
                    Ok(_) => {
                        let w = &slot.words;
                        w[0].store(c.start_ns, Relaxed);
                        w[1].store(c.latency_ns, Relaxed);
                        w[2].store(c.offset, Relaxed);
                        w[3].store(c.delay_ns, Relaxed);
                        w[4].store(c.size as u64 | (c.rc as u32 as u64) << 32, Relaxed);
                        let key = c.tid as u64
                            | (c.op as u64) << 32
                            | (c.kind as u64) << 40
                            | (c.db as u64) << 48;
                        w[5].store(key, Relaxed);
                        w[6].store(WalFrame::pack(c.frame), Relaxed);
                        slot.seq.store(pos + 1, Release);
                        return;
                    }
                    Err(current) => pos = current,
                }
            } else if seq < pos {
                self.dropped.fetch_add(1, Relaxed);
                return;
            } else {
                pos = self.head.load(Relaxed);
            }
        }
    }

    /// Writes out everything queued so far.
    fn drain(&self, sink: &mut Sink, layout: Option<&Layout>) {
        let mut written = 0;
        loop {
            let slot = &self.slots[(sink.tail & self.mask) as usize];
            if slot.seq.load(Acquire) != sink.tail + 1 {
                break;
            }
            let w = &slot.words;
            let (packed, key) = (w[4].load(Relaxed), w[5].load(Relaxed));
            let call = TracedCall {
                start_ns: w[0].load(Relaxed),
                latency_ns: w[1].load(Relaxed),
                offset: w[2].load(Relaxed),
                delay_ns: w[3].load(Relaxed),
                size: packed as u32,
                rc: (packed >> 32) as u32 as i32,
                tid: key as u32,
                op: Op::from_index((key >> 32 & 0xff) as usize).unwrap_or(Op::Open),
                kind: FileKind::from_index((key >> 40 & 0xff) as usize).unwrap_or(FileKind::Other),
                db: (key >> 48) as u16,
                frame: WalFrame::unpack(w[6].load(Relaxed)),
            };
            slot.seq.store(sink.tail + self.mask + 1, Release);
            sink.tail += 1;
            if call.db < 64 && sink.dbs_written & 1 << call.db == 0 {
                if let Some(info) = layout.and_then(|l| l.db_info(call.db)) {
                    sink.dbs_written |= 1 << call.db;
                    let _ = sink.writer.db(call.db, &info.path);
                }
            }
            if sink.writer.call(&call).is_err() {
                self.dropped.fetch_add(1, Relaxed);
            } else {
                written += 1;
            }
        }
        if let Some(layout) = layout {
            layout.header.trace_records.fetch_add(written, Relaxed);
            layout
                .header
                .trace_dropped
                .store(self.dropped.load(Relaxed), Relaxed);
        }
    }
}

/// Starts tracing into `path` (or `path.PID` if `path` is taken) with a
/// queue of `buffer` slots (a power of two). Returns the file used.
pub fn start(path: &Path, buffer: usize, meta: &ProcessMeta) -> std::io::Result<PathBuf> {
    let (file, used) = match create(path) {
        Ok(file) => (file, path.to_path_buf()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{}", meta.pid));
            let alt = PathBuf::from(name);
            (create(&alt)?, alt)
        }
        Err(e) => return Err(e),
    };
    let header = TraceHeader {
        pid: meta.pid,
        start_realtime_ns: meta.start_realtime_ns,
        start_monotonic_ns: meta.start_monotonic_ns,
        sqlite_version: meta.sqlite_version.clone(),
    };
    let writer = TraceWriter::new(BufWriter::with_capacity(1 << 16, file), &header)?;
    let buffer = buffer.next_power_of_two().max(2);
    let tracer: &'static Tracer = Box::leak(Box::new(Tracer {
        slots: (0..buffer as u64)
            .map(|i| Slot {
                seq: AtomicU64::new(i),
                words: Default::default(),
            })
            .collect(),
        mask: buffer as u64 - 1,
        head: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        sink: Mutex::new(Some(Sink {
            writer,
            tail: 0,
            dbs_written: 0,
        })),
    }));
    std::thread::Builder::new()
        .name("vfscope-trace".into())
        .spawn(move || {
            while !tracer.stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                let mut sink = tracer.sink.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(sink) = sink.as_mut() {
                    tracer.drain(sink, recorder::layout());
                    let _ = sink.writer.flush();
                }
            }
        })?;
    TRACER.store(tracer as *const Tracer as *mut Tracer, Release);
    recorder::set_tracing(true);
    Ok(used)
}

fn create(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// At exit: drains the queue and writes the end record.
pub fn finish(layout: Option<&Layout>) {
    let Some(tracer) = tracer() else { return };
    tracer.stop.store(true, Relaxed);
    // The writer thread may be gone (exit kills threads): take the sink
    // with try_lock, so a thread stopped mid-drain cannot hang the exit.
    for _ in 0..100 {
        if let Ok(mut sink) = tracer.sink.try_lock() {
            if let Some(mut s) = sink.take() {
                tracer.drain(&mut s, layout);
                let _ = s
                    .writer
                    .finish(monotonic_ns(), tracer.dropped.load(Relaxed));
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// In a forked child: the parent's tracer (and its thread) is not ours.
pub fn forget_in_child() {
    TRACER.store(std::ptr::null_mut(), Release);
    recorder::set_tracing(false);
}
