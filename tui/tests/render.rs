//! The real loop on ratatui's TestBackend: real segments, scripted keys and
//! a scripted clock, whole screens compared with insta snapshots.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vfscope_segment::{FileKind, LockLevel, Op, ProcessMeta, SegmentWriter, SlowCall};
use vfstop::app::{self, Events};
use vfstop::source::{Sample, SegmentDir, Source};
use vfstop::state::State;

fn meta(pid: u32, cmdline: &str) -> ProcessMeta {
    ProcessMeta {
        pid,
        uid: 0,
        proc_start_ticks: 1,
        start_realtime_ns: 0,
        start_monotonic_ns: 0,
        cmdline: cmdline.into(),
        sqlite_version: "3.46.0".into(),
        slow_threshold_ns: 10_000_000,
        block_size: 4096,
    }
}

/// Two "processes" whose segments grow by a known workload at every refresh.
struct Workload {
    dir: tempfile::TempDir,
    writers: Vec<SegmentWriter>,
    inner: SegmentDir,
}

impl Workload {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let segs = dir.path().join("segs");
        let writers = vec![
            SegmentWriter::create(&segs, &meta(4242, "orders-api --port 8080")).unwrap(),
            SegmentWriter::create(&segs, &meta(4343, "nightly-report")).unwrap(),
        ];
        for (i, w) in writers.iter().enumerate() {
            let l = w.layout();
            let db = l.db_index(format!("/data/app{i}.db").as_bytes());
            if let Some(row) = l.claim_open_file(FileKind::MainDb, db, 0) {
                let f = &l.open_files[row as usize];
                f.lock_level
                    .store(LockLevel::Shared as u32, Ordering::Relaxed);
                f.shm_held.store(1 << 3, Ordering::Relaxed);
            }
            let stats = l.lock_stats(db);
            stats.transitions[0][1].fetch_add(5, Ordering::Relaxed);
            stats.busy[2].fetch_add(1, Ordering::Relaxed);
            stats.shm_acquired[0][1].fetch_add(7, Ordering::Relaxed);
        }
        let inner = SegmentDir::new(&segs, None);
        Workload {
            dir,
            writers,
            inner,
        }
    }
}

impl Source for Workload {
    fn request_model(&mut self, pid: u32, model: &str) -> String {
        self.inner.request_model(pid, model)
    }

    fn poll(&mut self) -> Vec<Sample> {
        for (i, w) in self.writers.iter().enumerate() {
            let l = w.layout();
            let db = l.db_index(format!("/data/app{i}.db").as_bytes());
            let scale = i as u64 + 1;
            for n in 0..100 * scale {
                l.record_call(Op::Read, FileKind::MainDb, db, 0, 4096, 2_000 + n * 10);
            }
            for _ in 0..10 * scale {
                l.record_call(Op::Write, FileKind::Wal, db, 0, 4120, 8_000);
                l.record_call(Op::Sync, FileKind::Wal, db, 0, 0, 900_000);
            }
            l.record_call(Op::Lock, FileKind::MainDb, db, 5, 0, 1_000);
            l.push_slow(&SlowCall {
                op: Op::Sync,
                kind: FileKind::Wal,
                db,
                start_ns: 0,
                latency_ns: 25_000_000,
                offset: 0,
                size: 0,
                rc: 0,
                tid: 7,
                txn: 0,
            });
        }
        self.inner.poll()
    }
}

/// Keys to press, one per loop turn (`None` lets a turn pass). When they
/// run out it stops the loop the way SIGTERM does, so the last frame drawn
/// shows the effect of the last key.
struct Script<'a>(VecDeque<Option<KeyCode>>, &'a AtomicBool);

impl Events for Script<'_> {
    fn next(&mut self, _timeout: Duration) -> std::io::Result<Option<Event>> {
        let Some(key) = self.0.pop_front() else {
            self.1.store(true, Ordering::Relaxed);
            return Ok(None);
        };
        Ok(key.map(|code| Event::Key(KeyEvent::new(code, KeyModifiers::NONE))))
    }
}

/// Runs the real loop: `refreshes` turns without keys, then `keys`.
fn drive(
    source: &mut dyn Source,
    size: (u16, u16),
    refreshes: usize,
    keys: &[KeyCode],
) -> (String, State) {
    let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
    let mut state = State::new("/run/user/1000/vfscope".into(), 1000);
    let mut script: VecDeque<Option<KeyCode>> = std::iter::repeat_n(None, refreshes).collect();
    script.extend(keys.iter().map(|k| Some(*k)));
    // Each turn reads the clock twice; half a second a reading makes one
    // refresh per turn.
    let mut t = Duration::ZERO;
    let mut clock = || {
        t += Duration::from_millis(500);
        t
    };
    let stop = AtomicBool::new(false);
    app::run(
        &mut terminal,
        source,
        &mut state,
        &mut Script(script, &stop),
        &mut clock,
        &stop,
    )
    .unwrap();
    (screen(&terminal), state)
}

fn screen(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            let line: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect();
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn operations_view_shows_rates_percentiles_and_trends() {
    let (screen, state) = drive(&mut Workload::new(), (110, 24), 4, &[]);
    insta::assert_snapshot!(screen);
    let rows = state.rows();
    let read = rows.iter().find(|r| r.op == Op::Read).unwrap();
    // 300 reads per refresh (100 + 200), one refresh a second.
    assert_eq!(read.calls, 300.0);
}

#[test]
fn selecting_a_process_sorting_and_filtering() {
    let keys = [
        KeyCode::Down,
        KeyCode::Down,
        KeyCode::Char('s'),
        KeyCode::Char('r'),
        KeyCode::Char('/'),
        KeyCode::Char('w'),
        KeyCode::Char('a'),
        KeyCode::Char('l'),
        KeyCode::Enter,
    ];
    let (screen, state) = drive(&mut Workload::new(), (110, 24), 3, &keys);
    insta::assert_snapshot!(screen);
    assert_eq!(state.selected_process().unwrap().pid, 4343);
    assert_eq!(state.filter, "wal");
    assert!(state.rows().iter().all(|r| r.kind == FileKind::Wal));
}

#[test]
fn latency_view_is_a_log2_histogram_of_the_selected_row() {
    let keys = [KeyCode::Enter, KeyCode::Down, KeyCode::Tab];
    let (screen, _) = drive(&mut Workload::new(), (100, 30), 3, &keys);
    insta::assert_snapshot!(screen);
}

/// Replaces the word after each `marker` (a time measured on the real
/// clock) with `<t>`, keeping the layout.
fn mask_after(screen: &str, marker: &str) -> String {
    screen
        .lines()
        .map(|line| match line.find(marker) {
            Some(at) => {
                let rest = &line[at + marker.len()..];
                let start = rest.len() - rest.trim_start().len();
                let end = rest[start..].find(' ').map_or(rest.len(), |e| start + e);
                let width = rest[start..end].chars().count();
                format!(
                    "{}{}{:<width$}{}",
                    &line[..at + marker.len()],
                    &rest[..start],
                    "<t>",
                    &rest[end..]
                )
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn locks_view_lists_open_files_and_wal_index_holders() {
    let keys = [KeyCode::Tab, KeyCode::Tab];
    let (screen, _) = drive(&mut Workload::new(), (110, 24), 2, &keys);
    insta::assert_snapshot!(mask_after(&screen, "main_db   shared"));
}

#[test]
fn slow_calls_pane_shows_the_threshold() {
    let keys = [KeyCode::BackTab, KeyCode::BackTab];
    let (screen, _) = drive(&mut Workload::new(), (110, 24), 2, &keys);
    assert!(screen.contains("slow calls ≥ 10ms"), "{screen}");
    assert!(
        screen.contains("sync") && screen.contains("25ms"),
        "{screen}"
    );
}

#[test]
fn findings_view_shows_what_the_doctor_finds() {
    // The workload's WAL commits are 10-20 per refresh, each a WAL write
    // and a 0.9 ms sync, one page each: one row per commit.
    let (screen, state) = drive(&mut Workload::new(), (110, 40), 6, &[KeyCode::BackTab]);
    assert_eq!(state.view, vfstop::state::View::Findings);
    assert!(
        screen.contains("findings, as vfscope doctor gives them"),
        "{screen}"
    );
    assert!(screen.contains("vfscope doctor:"), "{screen}");
    // The text is the doctor's own, for the processes in scope.
    let text = vfstop::view::findings_text(&state);
    assert!(text.starts_with("vfscope doctor: "), "{text}");
    assert!(screen.contains(text.lines().next().unwrap()), "{screen}");
}

#[test]
fn q_quits_the_loop() {
    let stop = AtomicBool::new(false);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut state = State::new("d".into(), 1000);
    let script = VecDeque::from([None, Some(KeyCode::Char('q')), Some(KeyCode::Char('?'))]);
    let mut clock = || Duration::from_millis(1);
    app::run(
        &mut terminal,
        &mut Workload::new(),
        &mut state,
        &mut Script(script, &stop),
        &mut clock,
        &stop,
    )
    .unwrap();
    assert!(
        !stop.load(Ordering::Relaxed),
        "returned on q, not by running out of keys"
    );
    assert!(!state.help, "the key after q was never read");
}

#[test]
fn help_overlay_lists_every_key() {
    let (screen, _) = drive(&mut Workload::new(), (100, 30), 1, &[KeyCode::Char('?')]);
    for (keys, _) in vfstop::view::KEYS {
        assert!(screen.contains(keys), "{keys} missing:\n{screen}");
    }
}

#[test]
fn fits_80_by_24() {
    let (screen, _) = drive(&mut Workload::new(), (80, 24), 3, &[]);
    insta::assert_snapshot!(screen);
}

#[test]
fn a_damaged_segment_is_an_error_row() {
    let mut workload = Workload::new();
    std::fs::write(
        workload.dir.path().join("segs/9999-1.seg"),
        b"not a segment",
    )
    .unwrap();
    let (screen, state) = drive(&mut workload, (110, 24), 2, &[]);
    assert!(screen.contains("error"), "{screen}");
    assert!(screen.contains("9999-1.seg"), "{screen}");
    assert_eq!(state.processes.len(), 3);
}

#[test]
fn exited_processes_linger_greyed_then_go() {
    let mut workload = Workload::new();
    workload.writers[1].mark_exited();
    let (screen, state) = drive(&mut workload, (110, 24), 2, &[]);
    assert!(screen.contains("exited"), "{screen}");
    assert_eq!(state.processes.len(), 2);
    // Long enough for the exited one to be dropped (30 s at 1 s a turn).
    let (_, state) = drive(&mut workload, (110, 24), 70, &[]);
    assert_eq!(
        state.processes.iter().map(|p| p.pid).collect::<Vec<_>>(),
        vec![4242]
    );
}

#[test]
fn pause_holds_the_display_but_keeps_the_data() {
    let (paused_screen, state) = drive(&mut Workload::new(), (110, 24), 2, &[KeyCode::Char(' ')]);
    assert!(state.paused && paused_screen.contains("PAUSED"));
    // The same turns with a pause in the middle end with the same data.
    let x = KeyCode::Char('x');
    let (_, paused) = drive(
        &mut Workload::new(),
        (110, 24),
        2,
        &[KeyCode::Char(' '), x, x, KeyCode::Char(' '), x],
    );
    let (_, plain) = drive(&mut Workload::new(), (110, 24), 2, &[x, x, x, x, x]);
    let trend = |s: &State| {
        s.rows()
            .into_iter()
            .find(|r| r.op == Op::Read)
            .unwrap()
            .trend
    };
    assert_eq!(trend(&paused), trend(&plain));
    assert!(trend(&plain).iter().filter(|&&n| n > 0).count() >= 5);
}

#[test]
fn l_asks_the_selected_process_to_switch_its_latency_model() {
    let mut workload = Workload::new();
    let (screen, state) = drive(
        &mut workload,
        (100, 24),
        2,
        &[KeyCode::Down, KeyCode::Char('L')],
    );
    let notice = state.notice.clone().unwrap();
    assert_eq!(
        notice,
        "process 4242: latency model cross-az at its next SQLite call"
    );
    assert!(screen.lines().last().unwrap().contains(&notice), "{screen}");
    let layout = workload.writers[0].layout();
    assert_eq!(
        layout.pending_model_request(),
        Some((1, "cross-az".to_string()))
    );
    assert_eq!(workload.writers[1].layout().pending_model_request(), None);
    // Once the process runs a model, L asks for off.
    layout.answer_model_request(1, true);
    layout.set_active_model(Some(("cross-az", 7, false)));
    let (screen, _) = drive(
        &mut workload,
        (100, 24),
        2,
        &[KeyCode::Down, KeyCode::Char('L')],
    );
    assert!(screen.contains("cross-az"), "the model column: {screen}");
    assert_eq!(
        workload.writers[0].layout().pending_model_request(),
        Some((2, "off".to_string()))
    );
}

#[test]
fn a_trace_plays_back_as_a_process() {
    use vfscope_segment::trace::{TraceHeader, TraceWriter, TracedCall};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.trace");
    let header = TraceHeader {
        pid: 777,
        start_realtime_ns: 0,
        start_monotonic_ns: 0,
        sqlite_version: "3.40.1".into(),
    };
    let mut w = TraceWriter::new(std::fs::File::create(&path).unwrap(), &header).unwrap();
    w.db(0, "/data/orders.db").unwrap();
    for i in 0..50u64 {
        w.call(&TracedCall {
            start_ns: 1_000 + i * 1_000,
            latency_ns: 900,
            offset: i * 4096,
            delay_ns: 0,
            size: 4096,
            rc: 0,
            tid: 1,
            op: Op::Read,
            kind: FileKind::MainDb,
            db: 0,
            frame: None,
            lz4_size: None,
        })
        .unwrap();
    }
    w.finish(100_000, 0).unwrap();
    // A million times real time: the whole trace plays in the first turn.
    let mut replay = vfstop::source::TraceReplay::open(&path, 1e6).unwrap();
    let (screen, state) = drive(&mut replay, (100, 24), 2, &[]);
    assert!(
        screen.contains("orders.db") && screen.contains("(replay of"),
        "{screen}"
    );
    let p = &state.processes[0];
    assert_eq!(p.pid, 777);
    let last = &p.history.back().unwrap().1;
    assert_eq!(last.calls(Op::Read, FileKind::MainDb), 50);
}

#[test]
fn a_process_with_several_sqlite_copies_shows_them() {
    use vfscope_segment::{CopyAccess, CopyInfo, CopyStatus};
    let mut workload = Workload::new();
    let copy = |index, status, version: &str, object: &str| CopyInfo {
        index,
        status,
        access: CopyAccess::Local,
        object: object.into(),
        version: version.into(),
        source_id: String::new(),
        note: String::new(),
        calls: 0,
        opens: 0,
    };
    let l = workload.writers[0].layout();
    l.publish_copy(&copy(
        0,
        CopyStatus::Traced,
        "3.40.1",
        "/lib/libsqlite3.so.0",
    ));
    l.publish_copy(&copy(1, CopyStatus::Traced, "3.51.1", "/venv/_sqlite3.so"));
    l.publish_copy(&copy(2, CopyStatus::Unreachable, "", "/venv/stripped.so"));
    let (screen, _) = drive(&mut workload, (120, 24), 2, &[]);
    let header = screen.lines().find(|l| l.contains("PID")).unwrap();
    assert!(header.contains("SQLITE"), "{screen}");
    let row = screen.lines().find(|l| l.contains("4242")).unwrap();
    assert!(row.contains("3.40.1+3.51.1 1!"), "{screen}");
    let other = screen.lines().find(|l| l.contains("4343")).unwrap();
    assert!(!other.contains("3."), "{screen}");
}
