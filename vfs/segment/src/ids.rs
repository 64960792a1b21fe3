//! The closed vocabularies of the data model: operations, file kinds, result
//! classes, lock levels and WAL shm lock slots. Each is stored in the segment
//! as a small integer; the names are the label values readers and exporters
//! use, so they never change once released.

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $label:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in storage order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// How many values there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The stable label, e.g. for Prometheus.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            /// The value stored at `index`, if `index` is in range.
            pub fn from_index(index: usize) -> Option<Self> {
                Self::ALL.get(index).copied()
            }

            /// Looks a value up by its label.
            pub fn from_name(label: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == label)
            }

            /// The storage index.
            pub const fn index(self) -> usize {
                self as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

vocabulary! {
    /// How a transaction ended, as the shim sees it.
    /// `busy`: a lock was refused and the transaction let its locks go
    /// (SQLite's busy handler may retry as a new transaction, or the app
    /// gets SQLITE_BUSY; the VFS cannot tell which yet); `error`: a
    /// call inside it failed otherwise; `closed`: its file was closed while
    /// it still held a lock.
    TxnOutcome {
        Ok => "ok",
        Busy => "busy",
        Error => "error",
        Closed => "closed",
    }
}

vocabulary! {
    /// One method of `sqlite3_vfs` (v1–v3) or `sqlite3_io_methods` (v1–v3).
    Op {
        Open => "open",
        Delete => "delete",
        Access => "access",
        FullPathname => "full_pathname",
        DlOpen => "dl_open",
        DlError => "dl_error",
        DlSym => "dl_sym",
        DlClose => "dl_close",
        Randomness => "randomness",
        Sleep => "sleep",
        CurrentTime => "current_time",
        GetLastError => "get_last_error",
        CurrentTimeInt64 => "current_time_int64",
        SetSystemCall => "set_system_call",
        GetSystemCall => "get_system_call",
        NextSystemCall => "next_system_call",
        Close => "close",
        Read => "read",
        Write => "write",
        Truncate => "truncate",
        Sync => "sync",
        FileSize => "file_size",
        Lock => "lock",
        Unlock => "unlock",
        CheckReservedLock => "check_reserved_lock",
        FileControl => "file_control",
        SectorSize => "sector_size",
        DeviceCharacteristics => "device_characteristics",
        ShmMap => "shm_map",
        ShmLock => "shm_lock",
        ShmBarrier => "shm_barrier",
        ShmUnmap => "shm_unmap",
        Fetch => "fetch",
        Unfetch => "unfetch",
    }
}

vocabulary! {
    /// What a file is to SQLite, from its open flags. `None` is for VFS calls
    /// that concern no file (randomness, sleep, the clock); `Shm` is the WAL
    /// index reached through the `xShm*` methods of the main database file.
    FileKind {
        None => "none",
        MainDb => "main_db",
        MainJournal => "main_journal",
        Wal => "wal",
        TempDb => "temp_db",
        TempJournal => "temp_journal",
        TransientDb => "transient_db",
        Subjournal => "subjournal",
        SuperJournal => "super_journal",
        Shm => "shm",
        Other => "other",
    }
}

vocabulary! {
    /// The class of a call's result code.
    ResultClass {
        Ok => "ok",
        Busy => "busy",
        Locked => "locked",
        IoErr => "ioerr",
        Full => "full",
        ShortRead => "short_read",
        NotFound => "notfound",
        Other => "other",
    }
}

impl ResultClass {
    /// Whether the class counts as an error. A short read (SQLite zero-fills
    /// and carries on) and `SQLITE_NOTFOUND` from `xFileControl` (the file
    /// does not handle that opcode) are normal outcomes, not failures.
    pub const fn is_error(self) -> bool {
        !matches!(
            self,
            ResultClass::Ok | ResultClass::ShortRead | ResultClass::NotFound
        )
    }

    /// Classifies a SQLite result code (primary or extended).
    pub const fn of_rc(rc: i32) -> Self {
        const SHORT_READ: i32 = 10 | (2 << 8);
        if rc == SHORT_READ {
            return ResultClass::ShortRead;
        }
        match rc & 0xff {
            0 => ResultClass::Ok,
            5 => ResultClass::Busy,
            6 => ResultClass::Locked,
            10 => ResultClass::IoErr,
            12 => ResultClass::NotFound,
            13 => ResultClass::Full,
            _ => ResultClass::Other,
        }
    }
}

vocabulary! {
    /// A SQLite file lock level, as passed to `xLock`/`xUnlock`.
    LockLevel {
        None => "none",
        Shared => "shared",
        Reserved => "reserved",
        Pending => "pending",
        Exclusive => "exclusive",
    }
}

vocabulary! {
    /// One of the eight WAL-index locks taken through `xShmLock`.
    ShmSlot {
        Write => "write",
        Checkpoint => "checkpoint",
        Recover => "recover",
        Read0 => "read0",
        Read1 => "read1",
        Read2 => "read2",
        Read3 => "read3",
        Read4 => "read4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_classes_follow_sqlite_codes() {
        assert_eq!(ResultClass::of_rc(0), ResultClass::Ok);
        assert_eq!(ResultClass::of_rc(5), ResultClass::Busy);
        assert_eq!(ResultClass::of_rc(5 | (2 << 8)), ResultClass::Busy);
        assert_eq!(ResultClass::of_rc(522), ResultClass::ShortRead);
        assert_eq!(ResultClass::of_rc(10 | (4 << 8)), ResultClass::IoErr);
        assert_eq!(ResultClass::of_rc(13), ResultClass::Full);
        assert_eq!(ResultClass::of_rc(12), ResultClass::NotFound);
        assert_eq!(ResultClass::of_rc(14), ResultClass::Other);
        assert!(!ResultClass::ShortRead.is_error());
        assert!(ResultClass::Busy.is_error());
    }

    #[test]
    fn names_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.name()), Some(*op));
        }
        assert_eq!(Op::COUNT, 34);
        assert_eq!(FileKind::COUNT, 11);
        assert_eq!(ShmSlot::COUNT, 8);
    }
}
