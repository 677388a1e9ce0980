//! Helpers shared by the sim benches (included with `mod common;`).

use sspi_emu_api::{AcquireCredentials, AsyncContextHandle, Backend, CredentialUse, NotifyCallback, SecStatus};
use sspi_emu_sim::{DriverKind, JournalMode, Simulator};

/// Both journal modes, with the label used in benchmark ids.
#[allow(dead_code)] // not every bench uses it
pub(crate) const JOURNAL_MODES: [(JournalMode, &str); 2] =
    [(JournalMode::Full, "journal_full"), (JournalMode::Off, "journal_off")];

/// A simulator of the default world with `driver` and `journal`.
pub(crate) fn sim(driver: DriverKind, journal: JournalMode) -> Simulator {
    Simulator::builder().driver(driver).journal(journal).build()
}

/// The acquisition every bench makes: NTLM, outbound, the caller's own session. It succeeds in
/// the default world and touches no authority.
pub(crate) fn ntlm_outbound() -> AcquireCredentials {
    AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND)
}

/// `n` fresh async contexts sharing `callback`, each with its index as `CallbackData`.
#[allow(dead_code)] // not every bench keeps many contexts
pub(crate) fn contexts_with_callback(sim: &Simulator, n: usize, callback: &NotifyCallback) -> Vec<AsyncContextHandle> {
    (0..n)
        .map(|i| {
            let ctx = sim.sspi_create_async_context();
            assert!(!ctx.is_null());
            assert_eq!(
                sim.sspi_set_async_notify_callback(ctx, Some(std::sync::Arc::clone(callback)), i),
                SecStatus::SEC_E_OK
            );
            ctx
        })
        .collect()
}

/// Waits until `cond` holds: spins first (a completion usually lands within microseconds), then
/// yields so that a worker sharing this core can run.
#[allow(dead_code)] // not every bench waits on other threads
pub(crate) fn wait_until(mut cond: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !cond() {
        if spins < 2_000 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Where criterion wrote its results: `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`, or the
/// target directory this bench binary runs from (`<target>/release/deps/<bench>`).
pub(crate) fn criterion_dir() -> Option<std::path::PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(home.into());
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(std::path::PathBuf::from(target).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// Criterion's estimate of the time per iteration (ns) for `group/id` in the last run, with its
/// 95% confidence interval: `stat` is `"slope"` (the `time:` line of linear sampling) or
/// `"mean"`; a missing slope falls back to the mean.
pub(crate) fn estimate_ns(group: &str, id: &str, stat: &str) -> Option<(f64, f64, f64)> {
    let path = criterion_dir()?.join(group).join(id).join("new").join("estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let e = v.get(stat).filter(|s| !s.is_null()).or_else(|| v.get("mean"))?;
    let ci = e.get("confidence_interval")?;
    Some((e.get("point_estimate")?.as_f64()?, ci.get("lower_bound")?.as_f64()?, ci.get("upper_bound")?.as_f64()?))
}
