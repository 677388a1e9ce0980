//! Target 1 of the performance issue: the async acquire round trip beside the sync acquire.
//!
//! * `sync`: `acquire_credentials_handle` + `free_credentials_handle`.
//! * `async_<driver>`: on a context with a callback registered,
//!   `sspi_acquire_credentials_handle_async` → the driver completes the call (manual:
//!   `DriverControl::step`; threaded: a worker, the bench thread waits for the callback; inline:
//!   before the queueing call returns) → `sspi_get_async_call_status` →
//!   `free_credentials_handle` of the acquired handle → `sspi_reinit_async_context`, so the
//!   context is reused.
//!
//! Three journal regimes, one criterion group each; ratios are judged within a regime:
//! `journal_full` and `journal_off` (a simulator serves 1,000 round trips, then a fresh one,
//! built with the clock stopped, takes over: a test-sized journal) and `journal_full_long`
//! (250,000 round trips per simulator: a long-lived simulator's ever-growing journal).
//!
//! After criterion has run, the bench prints the async/sync ratios of criterion's estimates, then
//! *interleaved* ratios: chunks of sync and async round trips alternate, so load on the host hits
//! both alike (the reference machine is a shared VM whose speed drifts by up to ~1.7x).
//!
//! `SSPI_EMU_BENCH_PROFILE=<regime>/<bench>/<round trips>` runs just that, for a profiler.
//!
//! Run: `cargo bench -p sspi-emu-sim --bench async_acquire`. See `docs/PERFORMANCE.md`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use sspi_emu_api::{
    AcquireCredentials, AsyncContextHandle, Backend, CredHandle, DriverControl, NtStatus, Out, SecStatus,
};
use sspi_emu_sim::{DriverKind, JournalMode, Simulator};

use common::{estimate_ns, ntlm_outbound, sim, wait_until};

/// What is measured: the sync call, or the async round trip on one of the drivers.
#[derive(Clone, Copy)]
enum Kind {
    Sync,
    Async(DriverKind),
}

/// Benchmark ids, in the order run and printed.
const KINDS: [(Kind, &str); 4] = [
    (Kind::Sync, "sync"),
    (Kind::Async(DriverKind::Manual), "async_manual"),
    (Kind::Async(DriverKind::Threaded { workers: 2 }), "async_threaded_2w"),
    (Kind::Async(DriverKind::Inline), "async_inline"),
];

/// A journal regime: the mode, the group label, how many round trips one simulator serves
/// before it is replaced (outside the timed region), and which kinds run.
struct Regime {
    mode: JournalMode,
    label: &'static str,
    round_trips_per_sim: u64,
    kinds: &'static [(Kind, &'static str)],
}

/// * `journal_full` / `journal_off`: a simulator serves 1,000 round trips (its journal stays
///   at a few thousand entries, as in a test), then a fresh one takes over.
/// * `journal_full_long`: a simulator serves 250,000 round trips (journal up to ~1,000,000
///   entries): the cost of an ever-growing journal in a long-lived simulator.
const REGIMES: [Regime; 3] = [
    Regime { mode: JournalMode::Full, label: "journal_full", round_trips_per_sim: 1_000, kinds: &KINDS },
    Regime { mode: JournalMode::Off, label: "journal_off", round_trips_per_sim: 1_000, kinds: &KINDS },
    Regime {
        mode: JournalMode::Full,
        label: "journal_full_long",
        round_trips_per_sim: 250_000,
        kinds: KINDS.split_at(2).0,
    },
];

const GROUP: &str = "acquire_round_trip";

/// One simulator; for the async kinds, one reusable context with a callback registered.
struct Rig {
    sim: Simulator,
    kind: Kind,
    ctx: AsyncContextHandle,
    cred: Out<CredHandle>,
    callbacks: Arc<AtomicU64>,
    args: AcquireCredentials,
    /// Round trips this simulator has served.
    served: u64,
}

impl Rig {
    fn new(kind: Kind, journal: JournalMode) -> Self {
        let callbacks = Arc::new(AtomicU64::new(0));
        let (sim, ctx) = match kind {
            Kind::Sync => (sim(DriverKind::Inline, journal), AsyncContextHandle::NULL),
            Kind::Async(driver) => {
                let sim = sim(driver, journal);
                let ctx = sim.sspi_create_async_context();
                assert!(!ctx.is_null());
                let counter = Arc::clone(&callbacks);
                let status = sim.sspi_set_async_notify_callback(
                    ctx,
                    Some(Arc::new(move |_, _| {
                        counter.fetch_add(1, Ordering::Release);
                    })),
                    0,
                );
                assert_eq!(status, SecStatus::SEC_E_OK);
                (sim, ctx)
            }
        };
        Self { sim, kind, ctx, cred: Out::new(CredHandle::default()), callbacks, args: ntlm_outbound(), served: 0 }
    }

    fn round_trip(&self) {
        let Kind::Async(driver) = self.kind else {
            let creds = self
                .sim
                .acquire_credentials_handle(self.args.clone())
                .expect("NTLM outbound acquires in the default world");
            assert_eq!(self.sim.free_credentials_handle(creds.handle), SecStatus::SEC_E_OK);
            return;
        };
        let before = self.callbacks.load(Ordering::Acquire);
        let queued = self.sim.sspi_acquire_credentials_handle_async(self.ctx, self.args.clone(), &self.cred, None);
        assert_eq!(queued, SecStatus::SEC_E_OK);
        match driver {
            DriverKind::Manual => assert!(self.sim.step(), "the manual driver holds the queued call"),
            DriverKind::Threaded { .. } => wait_until(|| self.callbacks.load(Ordering::Acquire) != before),
            DriverKind::Inline => {}
        }
        assert_eq!(self.sim.sspi_get_async_call_status(self.ctx), SecStatus::SEC_E_OK);
        assert_eq!(self.sim.free_credentials_handle(self.cred.get()), SecStatus::SEC_E_OK);
        assert_eq!(self.sim.sspi_reinit_async_context(self.ctx), NtStatus::STATUS_SUCCESS);
    }
}

/// Runs each kind a few times and checks the simulator saw no misuse and leaked nothing.
fn sanity_check() {
    for regime in &REGIMES {
        for &(kind, name) in regime.kinds {
            let rig = Rig::new(kind, regime.mode);
            for _ in 0..3 {
                rig.round_trip();
            }
            let stats = rig.sim.stats();
            assert!(rig.sim.misuses().is_empty(), "{name}: {:?}", rig.sim.misuses());
            let callbacks = if matches!(kind, Kind::Sync) { 0 } else { 3 };
            assert_eq!((stats.credentials, stats.in_flight, stats.callbacks), (0, 0, callbacks), "{name}");
        }
    }
}

/// Runs round trips of one kind in one regime, replacing the simulator (with the clock stopped)
/// after `round_trips_per_sim` round trips, so every sample sees the same journal regime.
struct Runner<'a> {
    regime: &'a Regime,
    kind: Kind,
    rig: Option<Rig>,
}

impl<'a> Runner<'a> {
    fn new(regime: &'a Regime, kind: Kind) -> Self {
        Self { regime, kind, rig: None }
    }

    /// Runs `iters` round trips; returns the time they took (simulator set-up excluded).
    fn run(&mut self, iters: u64) -> Duration {
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let per_sim = self.regime.round_trips_per_sim;
            let r = match &mut self.rig {
                Some(r) if r.served < per_sim => r,
                slot => slot.insert(Rig::new(self.kind, self.regime.mode)),
            };
            let n = left.min(per_sim - r.served);
            let start = Instant::now();
            for _ in 0..n {
                r.round_trip();
            }
            timed += start.elapsed();
            r.served += n;
            left -= n;
        }
        timed
    }
}

fn round_trips(c: &mut Criterion) {
    sanity_check();
    for regime in &REGIMES {
        let mut group = c.benchmark_group(format!("{GROUP}_{}", regime.label));
        group.sample_size(40).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        for &(kind, name) in regime.kinds {
            let mut runner = Runner::new(regime, kind);
            group.bench_function(name, |b| b.iter_custom(|iters| runner.run(iters)));
        }
        group.finish();
    }
}

/// Interleaved ratios: alternates chunks of sync and async round trips and reports the median
/// of the per-pair ratios. Background load on the machine then hits both sides of a pair
/// alike, which criterion's one-bench-after-another order cannot promise.
fn paired_ratios() {
    const PAIRS: usize = 201;
    const CHUNK: u64 = 500;
    println!();
    println!(
        "interleaved ratios ({PAIRS} pairs of {CHUNK}-round-trip chunks, sync then async; median and quartiles of async/sync)"
    );
    println!("{:<18} {:<18} {:>8} {:>18}", "journal", "bench", "median", "quartiles");
    for regime in &REGIMES {
        let mut sync = Runner::new(regime, Kind::Sync);
        for &(kind, name) in regime.kinds.iter().filter(|(k, _)| !matches!(k, Kind::Sync)) {
            let mut other = Runner::new(regime, kind);
            let (_, _) = (sync.run(CHUNK), other.run(CHUNK)); // warm-up
            let mut ratios: Vec<f64> = (0..PAIRS)
                .map(|_| {
                    let s = sync.run(CHUNK).as_secs_f64();
                    other.run(CHUNK).as_secs_f64() / s
                })
                .collect();
            ratios.sort_by(f64::total_cmp);
            let q = |p: usize| ratios[(ratios.len() - 1) * p / 4];
            let verdict = match name {
                "async_manual" if q(2) <= 1.5 => "  target met",
                "async_manual" => "  target NOT met",
                _ => "",
            };
            let quartiles = format!("[{:.2}, {:.2}]", q(1), q(3));
            println!("{:<18} {name:<18} {:>8.2} {quartiles:>18}{verdict}", regime.label, q(2));
        }
    }
}

fn print_ratios() {
    println!();
    println!("async/sync ratios (criterion slope estimate per round trip, 95% CI;");
    println!("target: async_manual <= 1.5x sync in the same journal mode)");
    println!("{:<18} {:<18} {:>9} {:>20} {:>7}", "journal", "bench", "ns", "95% CI", "x sync");
    for regime in &REGIMES {
        let (label, group) = (regime.label, format!("{GROUP}_{}", regime.label));
        let Some((sync, ..)) = estimate_ns(&group, "sync", "slope") else { continue };
        for &(_, name) in regime.kinds {
            if let Some((t, lo, hi)) = estimate_ns(&group, name, "slope") {
                let verdict = match name {
                    "async_manual" if t / sync <= 1.5 => "  target met",
                    "async_manual" => "  target NOT met",
                    _ => "",
                };
                let ci = format!("[{lo:.1}, {hi:.1}]");
                println!("{label:<18} {name:<18} {t:>9.1} {ci:>20} {:>7.2}{verdict}", t / sync);
            }
        }
    }
}

/// `SSPI_EMU_BENCH_PROFILE=<regime>/<bench>/<round trips>` (e.g.
/// `journal_full/async_manual/20000`): runs only that many round trips, outside criterion, for a
/// profiler (`valgrind --tool=callgrind`, `perf`). Returns false when the variable is unset.
fn profile_mode() -> bool {
    let Ok(spec) = std::env::var("SSPI_EMU_BENCH_PROFILE") else { return false };
    let parts: Vec<&str> = spec.split('/').collect();
    let [label, name, n] = parts[..] else {
        panic!("SSPI_EMU_BENCH_PROFILE={spec}: want <regime>/<bench>/<round trips>")
    };
    let regime = REGIMES.iter().find(|r| r.label == label).unwrap_or_else(|| panic!("no regime {label}"));
    let &(kind, _) = regime.kinds.iter().find(|(_, id)| *id == name).unwrap_or_else(|| panic!("no bench {name}"));
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("bad round-trip count {n}"));
    let t = Runner::new(regime, kind).run(n);
    println!("{label}/{name}: {n} round trips, {:.1} ns each", t.as_nanos() as f64 / n as f64);
    true
}

fn main() {
    if profile_mode() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    round_trips(&mut c);
    c.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not (criterion's test mode,
    // each bench once), and then there are no fresh estimates to print.
    if std::env::args().any(|a| a == "--bench") && !std::env::args().any(|a| a == "--list") {
        print_ratios();
        paired_ratios();
    }
}
