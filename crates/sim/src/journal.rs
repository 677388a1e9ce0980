//! The call journal: every call with its inputs (secrets redacted), queueing status, final
//! status and virtual times, dumpable as JSON.
//!
//! Recording is cheap: a call stores typed values (its arguments are shared with the queued
//! work, not copied) in fixed-size chunks, and they are formatted only when the journal is read
//! ([`crate::Simulator::journal`]). With [`JournalMode::Off`] nothing is built at all.

use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AsyncContextHandle, AuthData, ContextAttribute, CredHandle,
    CredentialsAttribute, CtxtHandle, InitializeSecurityContext, NtStatus, SecHandle, SecStatus, SecString, TimeStamp,
};

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

/// One journaled call, as read back.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct JournalEntry {
    /// Position in the journal, from 0.
    pub seq: u64,
    /// The entry point.
    pub function: FunctionId,
    /// The async context, for async-family calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<u64>,
    /// The package, where the call names or implies one (for a credential handle: the package
    /// its `dwUpper` names).
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

/// A call's inputs, kept typed until the journal is read.
pub(crate) enum Inputs {
    None,
    Acquire(Arc<AcquireCredentials>),
    Cred(CredHandle),
    Query(CredHandle, CredentialsAttribute),
    Package(String),
    CallbackData(usize),
    Initialize(Arc<InitializeSecurityContext>),
    Accept(Arc<AcceptSecurityContext>),
    Ctxt(CtxtHandle),
    CtxtQuery(CtxtHandle, ContextAttribute),
    /// A per-message call with a non-zero `fQOP`.
    Message(CtxtHandle, u32),
}

/// A return value that is not a `SECURITY_STATUS`.
#[derive(Clone, Copy)]
pub(crate) enum Returned {
    None,
    Ctx(AsyncContextHandle),
    Nt(NtStatus),
    Bool(bool),
}

/// Rarely set, so kept out of line.
#[derive(Default)]
pub(crate) struct Notes {
    pub(crate) detail: Option<String>,
    pub(crate) fault: Option<String>,
    pub(crate) misuse: Option<String>,
}

/// One journaled call as stored.
pub(crate) struct Record {
    pub(crate) function: FunctionId,
    pub(crate) ctx: Option<AsyncContextHandle>,
    pub(crate) inputs: Inputs,
    pub(crate) queue_status: Option<SecStatus>,
    pub(crate) status: Option<SecStatus>,
    pub(crate) returned: Returned,
    pub(crate) notes: Option<Box<Notes>>,
    pub(crate) at: TimeStamp,
    pub(crate) completed_at: Option<TimeStamp>,
    pub(crate) callbacks: u32,
}

impl Record {
    pub(crate) fn new(function: FunctionId, at: TimeStamp, inputs: Inputs) -> Self {
        Self {
            function,
            ctx: None,
            inputs,
            queue_status: None,
            status: None,
            returned: Returned::None,
            notes: None,
            at,
            completed_at: None,
            callbacks: 0,
        }
    }

    pub(crate) fn ctx(mut self, ctx: AsyncContextHandle) -> Self {
        self.ctx = Some(ctx);
        self
    }

    pub(crate) fn notes(&mut self) -> &mut Notes {
        self.notes.get_or_insert_with(Box::default)
    }

    /// Sets the notes that are given, leaving the others.
    pub(crate) fn note(mut self, detail: Option<String>, fault: Option<String>, misuse: Option<String>) -> Self {
        if detail.is_some() || fault.is_some() || misuse.is_some() {
            let n = self.notes();
            n.detail = detail.or(n.detail.take());
            n.fault = fault.or(n.fault.take());
            n.misuse = misuse.or(n.misuse.take());
        }
        self
    }

    fn entry(&self, seq: u64, package_of: &PackageOf<'_>) -> JournalEntry {
        let (package, inputs) = describe(&self.inputs, package_of);
        let notes = self.notes.as_deref();
        JournalEntry {
            seq,
            function: self.function,
            ctx: self.ctx.map(|c| c.0),
            package,
            inputs,
            queue_status: self.queue_status,
            status: self.status,
            returned: match self.returned {
                Returned::None => None,
                Returned::Ctx(c) => Some(format!("{c:?}")),
                Returned::Nt(s) => Some(s.to_string()),
                Returned::Bool(b) => Some(if b { "TRUE" } else { "FALSE" }.to_string()),
            },
            detail: notes.and_then(|n| n.detail.clone()),
            fault: notes.and_then(|n| n.fault.clone()),
            misuse: notes.and_then(|n| n.misuse.clone()),
            at: self.at,
            completed_at: self.completed_at,
            callbacks: self.callbacks,
        }
    }
}

/// The package a credential or context handle belongs to (the world's index in `dwUpper`, or
/// an executor's answer).
pub(crate) type PackageOf<'a> = dyn Fn(SecHandle) -> Option<String> + 'a;

fn sec_string(s: &SecString) -> String {
    s.decode().map_or_else(|| format!("<malformed {s:?}>"), |d| format!("{d:?}"))
}

/// The package a call names, and its inputs as text (secrets redacted).
fn describe(inputs: &Inputs, package_of: &PackageOf<'_>) -> (Option<String>, Vec<(&'static str, String)>) {
    let handle_package = |h: &CredHandle| package_of(h.0);
    let sec_package = |h: SecHandle| package_of(h);
    match inputs {
        Inputs::None => (None, Vec::new()),
        Inputs::Acquire(args) => (
            args.package.decode(),
            vec![
                ("pszPrincipal", args.principal.as_ref().map_or_else(|| "NULL".into(), sec_string)),
                ("pszPackage", sec_string(&args.package)),
                ("fCredentialUse", format!("{:?}", args.credential_use)),
                ("pvLogonId", args.logon_id.map_or_else(|| "NULL".into(), |l| l.to_string())),
                (
                    "pAuthData",
                    match &args.auth_data {
                        None => "NULL".into(),
                        // AuthIdentity's Debug redacts the password.
                        Some(AuthData::Identity(id)) => format!("{id:?}"),
                        Some(AuthData::Opaque(b)) => format!("<{} opaque bytes>", b.len()),
                        Some(_) => "<unknown>".into(),
                    },
                ),
                ("pGetKeyFn", args.get_key.as_ref().map_or_else(|| "NULL".into(), |g| format!("{g:?}"))),
            ],
        ),
        Inputs::Cred(h) => (handle_package(h), vec![("phCredential", format!("{:?}", h.0))]),
        Inputs::Query(h, a) => {
            (handle_package(h), vec![("phCredential", format!("{:?}", h.0)), ("ulAttribute", format!("{a:?}"))])
        }
        Inputs::Package(name) => (Some(name.clone()), vec![("pszPackageName", format!("{name:?}"))]),
        Inputs::CallbackData(d) => (None, vec![("CallbackData", format!("0x{d:x}"))]),
        Inputs::Initialize(a) => (
            a.context.map(|c| c.0).or(a.credential.map(|c| c.0)).and_then(sec_package),
            vec![
                ("phCredential", a.credential.map_or_else(|| "NULL".into(), |c| format!("{:?}", c.0))),
                ("phContext", a.context.map_or_else(|| "NULL".into(), |c| format!("{:?}", c.0))),
                ("pszTargetName", a.target_name.as_ref().map_or_else(|| "NULL".into(), sec_string)),
                ("fContextReq", format!("{:?}", a.context_req)),
                ("pInput", crate::context::describe_buffers(a.input.as_ref())),
            ],
        ),
        Inputs::Accept(a) => (
            a.context.map(|c| c.0).or(a.credential.map(|c| c.0)).and_then(sec_package),
            vec![
                ("phCredential", a.credential.map_or_else(|| "NULL".into(), |c| format!("{:?}", c.0))),
                ("phContext", a.context.map_or_else(|| "NULL".into(), |c| format!("{:?}", c.0))),
                ("pInput", crate::context::describe_buffers(a.input.as_ref())),
                ("fContextReq", format!("{:?}", a.context_req)),
            ],
        ),
        Inputs::Ctxt(h) => (sec_package(h.0), vec![("phContext", format!("{:?}", h.0))]),
        Inputs::CtxtQuery(h, a) => (
            sec_package(h.0),
            vec![("phContext", format!("{:?}", h.0)), ("ulAttribute", format!("{a:?} ({})", a.value()))],
        ),
        Inputs::Message(h, qop) => {
            (sec_package(h.0), vec![("phContext", format!("{:?}", h.0)), ("fQOP", format!("0x{qop:x}"))])
        }
    }
}

/// Handle to an entry, to fill in its completion later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryId(Option<usize>);

const CHUNK: usize = 1024;

pub(crate) struct Journal {
    mode: JournalMode,
    /// Fixed-size chunks: appending never moves recorded entries.
    chunks: Mutex<Vec<Vec<Record>>>,
}

impl Journal {
    pub(crate) fn new(mode: JournalMode) -> Self {
        Self { mode, chunks: Mutex::new(Vec::new()) }
    }

    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.mode == JournalMode::Full
    }

    /// Appends the record `make` builds; `make` runs only when the journal is on.
    #[inline]
    pub(crate) fn record(&self, make: impl FnOnce() -> Record) -> EntryId {
        if !self.enabled() {
            return EntryId(None);
        }
        let record = make();
        let mut chunks = self.chunks.lock();
        if chunks.last().is_none_or(|c| c.len() == CHUNK) {
            chunks.push(Vec::with_capacity(CHUNK));
        }
        let n = chunks.len();
        let last = &mut chunks[n - 1];
        last.push(record);
        EntryId(Some((n - 1) * CHUNK + last.len() - 1))
    }

    #[inline]
    pub(crate) fn update(&self, id: EntryId, f: impl FnOnce(&mut Record)) {
        if let Some(i) = id.0
            && let Some(r) = self.chunks.lock().get_mut(i / CHUNK).and_then(|c| c.get_mut(i % CHUNK))
        {
            f(r);
        }
    }

    pub(crate) fn snapshot(&self, package_of: &PackageOf<'_>) -> Vec<JournalEntry> {
        let chunks = self.chunks.lock();
        chunks.iter().flatten().enumerate().map(|(i, r)| r.entry(i as u64, package_of)).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.chunks.lock().iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_chunk_boundaries_in_order() {
        let j = Journal::new(JournalMode::Full);
        let ids: Vec<EntryId> = (0..CHUNK * 2 + 3)
            .map(|i| j.record(|| Record::new(FunctionId::FreeCredentialsHandle, TimeStamp(i as i64), Inputs::None)))
            .collect();
        j.update(ids[CHUNK + 1], |r| r.status = Some(SecStatus::SEC_E_OK));
        let entries = j.snapshot(&|_| None);
        assert_eq!(entries.len(), CHUNK * 2 + 3);
        assert!(entries.iter().enumerate().all(|(i, e)| e.seq == i as u64 && e.at == TimeStamp(i as i64)));
        assert_eq!(entries[CHUNK + 1].status, Some(SecStatus::SEC_E_OK));
        assert_eq!(entries[CHUNK].status, None);
    }

    #[test]
    fn off_builds_nothing() {
        let j = Journal::new(JournalMode::Off);
        let _ = j.record(|| panic!("the record is not built when the journal is off"));
        assert_eq!(j.len(), 0);
    }
}
