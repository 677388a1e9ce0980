//! Status tables: each function's possible statuses, as data (`fixtures/status-tables/`).
//!
//! Format, one file per function:
//!
//! ```toml
//! function = "SspiAcquireCredentialsHandleAsyncW"   # the Windows name
//! page = "https://learn.microsoft.com/..."          # where the documented rows come from
//! [queue]                                           # async only: what the queueing call returns
//! documented = ["SEC_E_OK"]
//! inferred = [{ status = "SEC_E_INVALID_PARAMETER", why = "NULL or pending context", source = "spec §4.7" }]
//! [result]                                          # sync: the return; async: the final status
//! documented = ["SEC_E_OK", "SEC_E_NO_CREDENTIALS"]
//! inferred = []
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sspi_emu::SecStatus;
use sspi_emu::sim::{FunctionId, JournalEntry};

/// A row added beyond the documentation, with its reason.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferredRow {
    /// The status.
    pub status: SecStatus,
    /// Why a call returns it.
    pub why: String,
    /// Where the behaviour comes from.
    pub source: String,
}

/// The statuses of one stage of a call.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTable {
    /// Statuses the documentation lists.
    #[serde(default)]
    pub documented: Vec<SecStatus>,
    /// Statuses the simulator may also return, each with its reason \[I\].
    #[serde(default)]
    pub inferred: Vec<InferredRow>,
}

impl StageTable {
    /// True when `status` is in the table.
    pub fn allows(&self, status: SecStatus) -> bool {
        self.documented.contains(&status) || self.inferred.iter().any(|r| r.status == status)
    }
}

/// One function's table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusTable {
    /// The Windows function name.
    pub function: String,
    /// The documentation page.
    pub page: String,
    /// Queue-time statuses (async operations only).
    #[serde(default)]
    pub queue: Option<StageTable>,
    /// Return (sync) or final (async) statuses.
    pub result: StageTable,
}

/// A status a call returned that its table does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Journal position.
    pub seq: u64,
    /// Function.
    pub function: String,
    /// `"queue"` or `"result"`.
    pub stage: &'static str,
    /// The status.
    pub status: SecStatus,
}

/// All tables, by function name.
#[derive(Clone, Debug, Default)]
pub struct StatusTables(pub BTreeMap<String, StatusTable>);

impl StatusTables {
    /// Loads every `*.toml` in `dir` that has a `function` key.
    ///
    /// # Errors
    /// A message naming the file and the TOML error.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, String> {
        let mut tables = BTreeMap::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir.as_ref())
            .map_err(|e| format!("{}: {e}", dir.as_ref().display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if !text.lines().any(|l| l.trim_start().starts_with("function")) {
                continue;
            }
            let table: StatusTable = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            tables.insert(table.function.clone(), table);
        }
        Ok(Self(tables))
    }

    /// The table of `function`.
    pub fn get(&self, function: FunctionId) -> Option<&StatusTable> {
        self.0.get(function.name())
    }

    /// Every journaled status that its function's table does not allow. Functions that return
    /// no `SECURITY_STATUS` (create, free, reinit, requires-notify) have no table and are skipped;
    /// a `SECURITY_STATUS` function without a table is itself a violation. Calls a fault rule
    /// hit are skipped: a fault may inject any status on purpose.
    /// Polls that report a fault-injected final status are exempt too.
    pub fn check(&self, journal: &[JournalEntry]) -> Vec<Violation> {
        let injected: std::collections::HashSet<(Option<u64>, SecStatus)> =
            journal.iter().filter(|e| e.fault.is_some()).filter_map(|e| e.status.map(|s| (e.ctx, s))).collect();
        let mut out = Vec::new();
        for e in journal.iter().filter(|e| e.fault.is_none()) {
            if e.function == FunctionId::SspiGetAsyncCallStatus
                && e.status.is_some_and(|s| injected.contains(&(e.ctx, s)))
            {
                continue;
            }
            let stages = [("queue", e.queue_status), ("result", e.status)];
            for (stage, status) in stages {
                let Some(status) = status else { continue };
                let allowed = self.get(e.function).is_some_and(|t| match stage {
                    "queue" => t.queue.as_ref().is_some_and(|q| q.allows(status)),
                    _ => t.result.allows(status),
                });
                if !allowed {
                    out.push(Violation { seq: e.seq, function: e.function.name().to_string(), stage, status });
                }
            }
        }
        out
    }
}
