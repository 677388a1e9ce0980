//! Fault injection: rules that pick calls and make them fail, complete late, or never complete.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;
use sspi_emu_api::SecStatus;

use crate::function::FunctionId;
use crate::world::{FaultSpec, FixtureError};

/// What a matching call suffers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultAction {
    /// The call runs its course but ends with this status (for an async call: the status
    /// `SspiGetAsyncCallStatus` reports at completion; the queueing call still succeeds).
    Fail(SecStatus),
    /// An async call is refused at queue time with this status: nothing is queued and no
    /// callback will come.
    FailQueue(SecStatus),
    /// The call completes only after this many virtual 100 ns ticks (a sync call moves the
    /// virtual clock by that much).
    Delay {
        /// Virtual delay.
        ticks: i64,
    },
    /// An async call stays pending for ever.
    Never,
}

/// A fault rule: which calls it selects and what they suffer.
pub struct FaultRule {
    functions: Vec<FunctionId>,
    package: Option<String>,
    calls: Vec<u64>,
    action: FaultAction,
    seen: AtomicU64,
}

impl Clone for FaultRule {
    fn clone(&self) -> Self {
        Self {
            functions: self.functions.clone(),
            package: self.package.clone(),
            calls: self.calls.clone(),
            action: self.action,
            seen: AtomicU64::new(0),
        }
    }
}

impl fmt::Debug for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.functions.iter().map(|x| x.name()).collect();
        write!(f, "{}", names.join("|"))?;
        if let Some(p) = &self.package {
            write!(f, " package={p}")?;
        }
        if !self.calls.is_empty() {
            write!(f, " calls={:?}", self.calls)?;
        }
        match self.action {
            FaultAction::Fail(s) => write!(f, " -> fail {s}"),
            FaultAction::FailQueue(s) => write!(f, " -> fail at queue {s}"),
            FaultAction::Delay { ticks } => write!(f, " -> delay {}s", ticks as f64 / 1e7),
            FaultAction::Never => write!(f, " -> never complete"),
        }
    }
}

impl FaultRule {
    /// A rule selecting `functions` (and `package`, if given; case-insensitive); `calls` lists
    /// which of the matching calls, counted from 1, it hits (empty: every one).
    pub fn new(functions: Vec<FunctionId>, package: Option<String>, calls: Vec<u64>, action: FaultAction) -> Self {
        Self { functions, package, calls, action, seen: AtomicU64::new(0) }
    }

    /// Every call of `function`, any package, fails with `status`.
    pub fn fail(function: FunctionId, status: SecStatus) -> Self {
        Self::new(vec![function], None, Vec::new(), FaultAction::Fail(status))
    }

    /// Parses one rule from TOML (the `[[faults]]` table format of `fixtures/README.md`).
    ///
    /// # Errors
    /// A [`FixtureError`] naming the line and field.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Self, FixtureError> {
        let raw: FaultSpec = toml::from_str(text).map_err(|e| FixtureError::from_toml(&e, text, file))?;
        raw.check(text, file)
    }

    /// Restricts the rule to one package.
    pub fn package(mut self, package: &str) -> Self {
        self.package = Some(package.to_string());
        self
    }

    /// Restricts the rule to the listed matching calls (1-based).
    pub fn calls(mut self, calls: &[u64]) -> Self {
        self.calls = calls.to_vec();
        self
    }

    /// The action.
    pub fn action(&self) -> FaultAction {
        self.action
    }

    /// Counts the call if it matches function and package; returns the action if the call
    /// number is selected.
    fn hit(&self, function: FunctionId, package: Option<&str>) -> Option<FaultAction> {
        if !self.functions.contains(&function) {
            return None;
        }
        if let Some(want) = &self.package
            && !package.is_some_and(|p| p.eq_ignore_ascii_case(want))
        {
            return None;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        (self.calls.is_empty() || self.calls.contains(&n)).then_some(self.action)
    }
}

/// The active rules. Lock-free when there are none.
#[derive(Default)]
pub(crate) struct Faults {
    any: AtomicBool,
    rules: RwLock<Vec<Arc<FaultRule>>>,
}

impl Faults {
    pub(crate) fn add(&self, rule: FaultRule) {
        let mut rules = self.rules.write();
        rules.push(Arc::new(rule));
        self.any.store(true, Ordering::Release);
    }

    /// True when any rule exists (callers skip work that only rules need).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    pub(crate) fn clear(&self) {
        self.rules.write().clear();
        self.any.store(false, Ordering::Release);
    }

    /// The first rule that selects this call, with its description. Every matching rule counts
    /// the call, so call numbers stay true whatever the rule order.
    pub(crate) fn check(&self, function: FunctionId, package: Option<&str>) -> Option<(FaultAction, String)> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let rules = self.rules.read();
        let mut first = None;
        for rule in rules.iter() {
            if let Some(action) = rule.hit(function, package) {
                first.get_or_insert_with(|| (action, rule.to_string()));
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_numbers_count_only_matching_calls() {
        let f = Faults::default();
        f.add(
            FaultRule::fail(FunctionId::AcquireCredentialsHandleW, SecStatus::SEC_E_INTERNAL_ERROR)
                .package("NTLM")
                .calls(&[2]),
        );
        let ach = FunctionId::AcquireCredentialsHandleW;
        assert_eq!(f.check(ach, Some("Kerberos")), None);
        assert_eq!(f.check(ach, Some("ntlm")), None); // 1st NTLM call
        assert_eq!(f.check(FunctionId::FreeCredentialsHandle, Some("NTLM")), None);
        assert_eq!(f.check(ach, Some("NTLM")).map(|x| x.0), Some(FaultAction::Fail(SecStatus::SEC_E_INTERNAL_ERROR)));
        assert_eq!(f.check(ach, Some("NTLM")), None); // 3rd
    }

    #[test]
    fn rules_parse_from_toml_with_located_errors() {
        let r = FaultRule::from_toml_str(
            "function = \"SspiAcquireCredentialsHandleAsync\"\naction = \"delay\"\nseconds = 2.5\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(r.action(), FaultAction::Delay { ticks: 25_000_000 });
        let e = FaultRule::from_toml_str("function = \"AcquireCredentialsHandle\"\naction = \"never\"\n", "f.toml")
            .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "action"));
        let e = FaultRule::from_toml_str(
            "function = \"SspiGetAsyncCallStatus\"\naction = \"fail\"\nstatus = \"SEC_E_OK\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "function"));
        let e = FaultRule::from_toml_str("function = \"Nope\"\naction = \"never\"\n", "f.toml").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "function"));
        let e = FaultRule::from_toml_str(
            "function = \"FreeCredentialsHandle\"\naction = \"fail\"\nstatus = \"SEC_E_BOGUS\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "status"));
        let e = FaultRule::from_toml_str(
            "function = \"FreeCredentialsHandle\"\naction = \"fail\"\nstatus = \"SEC_I_CONTINUE_NEEDED\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "status"));
        let e = FaultRule::from_toml_str("function = \"FreeCredentialsHandle\"\ncalls = [1, 0]\naction = \"fail\"\nstatus = \"SEC_E_INTERNAL_ERROR\"\n", "f.toml").unwrap_err();
        assert_eq!((e.line, e.column, e.field.as_str()), (2, 13, "calls"));
    }
}
