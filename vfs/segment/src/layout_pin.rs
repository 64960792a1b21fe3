//! The layout test: every field of every shared struct, pinned.
use super::*;
use std::mem::{align_of, offset_of, size_of};

/// `Type size align` then `Type.field offset` for every listed field.
macro_rules! describe {
    ($out:ident, $ty:ty { $($field:ident),* $(,)? }) => {
        $out.push(format!("{} {} {}", stringify!($ty), size_of::<$ty>(), align_of::<$ty>()));
        $($out.push(format!("{}.{} {}", stringify!($ty), stringify!($field), offset_of!($ty, $field)));)*
    };
}

/// Every field of every struct another process reads, with its offset.
fn describe_layout() -> String {
    let mut out = vec![format!("version {LAYOUT_VERSION} size {SEGMENT_SIZE}")];
    describe!(
        out,
        Header {
            magic,
            layout_version,
            header_size,
            total_size,
            pid,
            uid,
            proc_start_ticks,
            start_realtime_ns,
            start_monotonic_ns,
            slow_threshold_ns,
            block_size,
            cmdline_len,
            sqlite_version_len,
            cmdline,
            sqlite_version,
            state,
            registrations,
            vfs_names,
            db_overflow,
            cell_overflow,
            hist_overflow,
            open_file_overflow,
            faults,
            txn_ids,
            trace_records,
            trace_dropped,
            other_dbs,
            catalog_entries,
            rows_full,
            reserved,
        }
    );
    describe!(
        out,
        Control {
            latency_enabled,
            generation,
            applied,
            status,
            request_len,
            mode,
            seed,
            request,
            active,
            cache_hits,
            cache_misses,
            lag_hist,
            _pad,
            reserved,
            requests,
        }
    );
    describe!(
        out,
        RequestCounter {
            name,
            price_per_1000,
            count,
        }
    );
    describe!(
        out,
        DbEntry {
            state,
            path_len,
            page_size,
            copies,
            path
        }
    );
    describe!(
        out,
        Cell {
            key,
            hist,
            total_ns,
            bytes,
            max_ns,
            results,
            last_ioerr,
            delayed,
            delay_target_ns,
            delay_actual_ns,
            faults_injected,
            _pad,
        }
    );
    describe!(out, Hist { touched, counts });
    describe!(
        out,
        LockStats {
            transitions,
            busy,
            closed_holding,
            waits_abandoned,
            hold_hist,
            wait_hist,
            _pad,
            shm_acquired,
            shm_busy,
            shm_hold_hist,
        }
    );
    describe!(
        out,
        Shape {
            writes_append,
            writes_random,
            reads_random,
            unaligned_page,
            unaligned_block,
            block_extra_written,
            wal_frames,
            wal_frame_bytes,
            block_extra_read,
            wal_commits,
            fetch_mapped,
            opens,
            closes,
            size_high_water,
            _reserved,
        }
    );
    describe!(
        out,
        SlowEntry {
            seq,
            start_ns,
            latency_ns,
            offset,
            size,
            rc,
            key,
            tid,
            txn
        }
    );
    describe!(
        out,
        TxnEntry {
            seq,
            id,
            start_ns,
            duration_ns,
            bytes_read,
            bytes_written,
            lock_wait_ns,
            injected_ns,
            pages_read,
            pages_written,
            syncs,
            tid,
            key,
            flags,
        }
    );
    describe!(
        out,
        OpenFile {
            state,
            key,
            lock_level,
            shm_held,
            level_since_ns,
            opened_ns
        }
    );
    describe!(
        out,
        CatalogEntry {
            hash,
            state,
            row,
            activity,
            _pad,
        }
    );
    describe!(
        out,
        CopyEntry {
            opens,
            state,
            status,
            access,
            object_len,
            object,
            version,
            source_id,
            note,
        }
    );
    describe!(
        out,
        Layout {
            header,
            control,
            dbs,
            directory,
            cells_used,
            hists_used,
            cells,
            locks,
            shapes,
            slow_head,
            slow,
            txn_head,
            txns,
            open_files,
            copies,
            kind_cells,
            catalog,
            hists,
        }
    );
    out.join("\n") + "\n"
}

/// Pins the layout field by field. If this fails you changed the
/// layout: bump LAYOUT_VERSION, then re-pin with
/// `VFSCOPE_REPIN=1 cargo test -p vfscope-segment layout_is_pinned`.
#[test]
fn layout_is_pinned() {
    let now = describe_layout();
    let pin = concat!(env!("CARGO_MANIFEST_DIR"), "/src/layout.pin");
    if std::env::var_os("VFSCOPE_REPIN").is_some() {
        std::fs::write(pin, &now).unwrap();
    }
    let pinned = include_str!("layout.pin");
    assert_eq!(
        now, pinned,
        "layout changed: bump LAYOUT_VERSION (the pin's first line must change too) and re-pin"
    );
}
