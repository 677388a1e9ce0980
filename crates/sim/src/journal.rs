//! The call journal: every call with its inputs (secrets redacted), queueing status, final
//! status and virtual times, dumpable as JSON.

use parking_lot::Mutex;
use serde::Serialize;
use sspi_emu_api::{SecStatus, TimeStamp};

use crate::function::FunctionId;

/// Whether calls are journaled.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum JournalMode {
    /// Every call is recorded (the default).
    #[default]
    Full,
    /// Nothing is recorded (for throughput measurements).
    Off,
}

/// One journaled call.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct JournalEntry {
    /// Position in the journal, from 0.
    pub seq: u64,
    /// The entry point.
    pub function: FunctionId,
    /// The async context, for async-family calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<u64>,
    /// The package, where the call names or implies one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Inputs as `(parameter, value)`; passwords, keys and hashes are redacted.
    pub inputs: Vec<(&'static str, String)>,
    /// For queued calls: what the queueing call returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_status: Option<SecStatus>,
    /// The call's status: the return value of a sync call, the completion status of a queued
    /// one (`None` while it is in flight).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SecStatus>,
    /// A return value that is not a `SECURITY_STATUS` (`NTSTATUS`, `BOOLEAN`, a handle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returned: Option<String>,
    /// Why the call failed, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The fault rule that hit the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Misuse the simulator detected in this call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misuse: Option<String>,
    /// Virtual time the call was made (UTC).
    pub at: TimeStamp,
    /// Virtual time a queued call completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<TimeStamp>,
    /// Callbacks fired for this call.
    pub callbacks: u32,
}

impl JournalEntry {
    pub(crate) fn new(function: FunctionId, at: TimeStamp) -> Self {
        Self {
            seq: 0,
            function,
            ctx: None,
            package: None,
            inputs: Vec::new(),
            queue_status: None,
            status: None,
            returned: None,
            detail: None,
            fault: None,
            misuse: None,
            at,
            completed_at: None,
            callbacks: 0,
        }
    }
}

/// Handle to an entry, to fill in its completion later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryId(Option<usize>);

pub(crate) struct Journal {
    mode: JournalMode,
    entries: Mutex<Vec<JournalEntry>>,
}

impl Journal {
    pub(crate) fn new(mode: JournalMode) -> Self {
        Self { mode, entries: Mutex::new(Vec::new()) }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.mode == JournalMode::Full
    }

    pub(crate) fn record(&self, entry: impl FnOnce() -> JournalEntry) -> EntryId {
        if !self.enabled() {
            return EntryId(None);
        }
        let mut e = entry();
        let mut entries = self.entries.lock();
        e.seq = entries.len() as u64;
        entries.push(e);
        EntryId(Some(entries.len() - 1))
    }

    pub(crate) fn update(&self, id: EntryId, f: impl FnOnce(&mut JournalEntry)) {
        if let Some(i) = id.0
            && let Some(e) = self.entries.lock().get_mut(i)
        {
            f(e);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<JournalEntry> {
        self.entries.lock().clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().len()
    }
}
