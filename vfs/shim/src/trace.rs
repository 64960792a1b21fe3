//! Recording every call to a trace file (`VFSCOPE_TRACE`), off the call
//! path: calls go into `trace_queue`; a background thread drains the queue
//! every 10 ms into a buffered file. At exit the rest is drained and the
//! end record written (with the calls the queue dropped).

use crate::recorder;
use crate::trace_queue::{self, Queue};
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering::*};
use std::sync::Mutex;
use std::time::Duration;
use vfscope_segment::trace::{TraceHeader, TraceWriter};
use vfscope_segment::{monotonic_ns, Layout, ProcessMeta};

/// The writer of this process's trace: the queue it drains and the file.
struct Tracer {
    queue: &'static Queue,
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

fn tracer() -> Option<&'static Tracer> {
    let p = TRACER.load(Acquire);
    // SAFETY: TRACER only holds tracers leaked by `start`, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

impl Tracer {
    /// Writes out everything queued so far.
    fn drain(&self, sink: &mut Sink, layout: Option<&Layout>) {
        let mut written = 0;
        while let Some(call) = self.queue.take(sink.tail) {
            sink.tail += 1;
            if call.db < 64 && sink.dbs_written & 1 << call.db == 0 {
                if let Some(info) = layout.and_then(|l| l.db_info(call.db)) {
                    sink.dbs_written |= 1 << call.db;
                    let _ = sink.writer.db(call.db, &info.path);
                }
            }
            if sink.writer.call(&call).is_err() {
                self.queue.dropped.fetch_add(1, Relaxed);
            } else {
                written += 1;
            }
        }
        if let Some(layout) = layout {
            layout.header.trace_records.fetch_add(written, Relaxed);
            layout
                .header
                .trace_dropped
                .store(self.queue.dropped.load(Relaxed), Relaxed);
        }
    }
}

/// Starts tracing into `path` (or a name beside it: [`create_beside`])
/// with a queue of `buffer` slots (a power of two). Returns the file used.
pub fn start(path: &Path, buffer: usize, meta: &ProcessMeta) -> std::io::Result<PathBuf> {
    let (file, used) = create_beside(path, meta.pid)?;
    let header = TraceHeader {
        pid: meta.pid,
        start_realtime_ns: meta.start_realtime_ns,
        start_monotonic_ns: meta.start_monotonic_ns,
        sqlite_version: meta.sqlite_version.clone(),
    };
    let writer = TraceWriter::new(BufWriter::with_capacity(1 << 16, file), &header)?;
    let tracer: &'static Tracer = Box::leak(Box::new(Tracer {
        queue: trace_queue::new(buffer.next_power_of_two().max(2)),
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
    trace_queue::install(tracer.queue);
    recorder::set_tracing(true);
    Ok(used)
}

/// Makes the trace file `path`, or `path.PID` if `path` is taken (the
/// run's other processes), or `path.PID.N` if that is taken too (a pid
/// reused: SQLite's TCL suite starts enough processes to wrap them). An
/// error names the file it could not make.
fn create_beside(path: &Path, pid: u32) -> std::io::Result<(File, PathBuf)> {
    let names = std::iter::once(path.to_path_buf()).chain((0..1000).map(|n| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{pid}"));
        if n > 0 {
            name.push(format!(".{n}"));
        }
        PathBuf::from(name)
    }));
    for name in names {
        match create(&name) {
            Ok(file) => return Ok((file, name)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if name == path => return Err(e),
            Err(e) => {
                let said = format!("{}: {e}", name.display());
                return Err(std::io::Error::new(e.kind(), said));
            }
        }
    }
    let said = format!(
        "it and {}.{pid}, .{pid}.1 to .{pid}.999 exist",
        path.display()
    );
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, said))
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
                    .finish(monotonic_ns(), tracer.queue.dropped.load(Relaxed));
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// In a forked child: the parent's tracer (its queue and its thread) is
/// not ours.
pub fn forget_in_child() {
    trace_queue::forget();
    TRACER.store(std::ptr::null_mut(), Release);
    recorder::set_tracing(false);
}

#[cfg(test)]
mod tests {
    use super::create_beside;

    #[test]
    fn a_taken_name_moves_to_the_pid_then_to_a_count() {
        let dir = std::env::temp_dir().join(format!(
            "vfscope-trace-names-{}-{}",
            std::process::id(),
            vfscope_segment::realtime_ns()
        ));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("t.trace");
        let names: Vec<String> = (0..3)
            .map(|_| {
                let (_, used) = create_beside(&path, 42).unwrap();
                used.file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        // The third is a reused pid 42: it must still get a file.
        assert_eq!(names, ["t.trace", "t.trace.42", "t.trace.42.1"]);
        for n in 2..1000 {
            std::fs::write(dir.join(format!("t.trace.42.{n}")), "").unwrap();
        }
        let e = create_beside(&path, 42).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(e.to_string().contains(".42.999 exist"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
