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
//! Each runs with `JournalMode::Full` (the default) and `JournalMode::Off`, one criterion group
//! per mode; the ratios are judged within a mode. Each sample gets a fresh simulator (built
//! outside the timed region), so the `Full` journal holds only that sample's calls.
//!
//! After criterion has run, the bench prints the means and the async/sync ratios read back from
//! criterion's `estimates.json` files. Run: `cargo bench -p sspi-emu-sim --bench async_acquire`.
//! See `docs/PERFORMANCE.md`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use sspi_emu_api::{
    AcquireCredentials, AsyncContextHandle, Backend, CredHandle, DriverControl, NtStatus, Out, SecStatus,
};
use sspi_emu_sim::{DriverKind, JournalMode, Simulator};

use common::{JOURNAL_MODES, estimate_ns, ntlm_outbound, sim, wait_until};

/// The drivers measured, with their benchmark ids.
const DRIVERS: [(DriverKind, &str); 3] = [
    (DriverKind::Manual, "async_manual"),
    (DriverKind::Threaded { workers: 2 }, "async_threaded_2w"),
    (DriverKind::Inline, "async_inline"),
];

const GROUP: &str = "acquire_round_trip";

/// One simulator with one reusable context.
struct AsyncRig {
    sim: Simulator,
    driver: DriverKind,
    ctx: AsyncContextHandle,
    cred: Out<CredHandle>,
    callbacks: Arc<AtomicU64>,
    args: AcquireCredentials,
}

impl AsyncRig {
    fn new(driver: DriverKind, journal: JournalMode) -> Self {
        let sim = sim(driver, journal);
        let ctx = sim.sspi_create_async_context();
        assert!(!ctx.is_null());
        let callbacks = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&callbacks);
        let status = sim.sspi_set_async_notify_callback(
            ctx,
            Some(Arc::new(move |_, _| {
                counter.fetch_add(1, Ordering::Release);
            })),
            0,
        );
        assert_eq!(status, SecStatus::SEC_E_OK);
        Self { sim, driver, ctx, cred: Out::new(CredHandle::default()), callbacks, args: ntlm_outbound() }
    }

    fn round_trip(&self) {
        let before = self.callbacks.load(Ordering::Acquire);
        let queued = self.sim.sspi_acquire_credentials_handle_async(self.ctx, self.args.clone(), &self.cred, None);
        assert_eq!(queued, SecStatus::SEC_E_OK);
        match self.driver {
            DriverKind::Manual => {
                assert!(self.sim.step(), "the manual driver holds the queued call")
            }
            DriverKind::Threaded { .. } => wait_until(|| self.callbacks.load(Ordering::Acquire) != before),
            DriverKind::Inline => {}
        }
        assert_eq!(self.sim.sspi_get_async_call_status(self.ctx), SecStatus::SEC_E_OK);
        assert_eq!(self.sim.free_credentials_handle(self.cred.get()), SecStatus::SEC_E_OK);
        assert_eq!(self.sim.sspi_reinit_async_context(self.ctx), NtStatus::STATUS_SUCCESS);
    }
}

fn sync_round_trip(sim: &Simulator, args: &AcquireCredentials) {
    let creds = sim.acquire_credentials_handle(args.clone()).expect("NTLM outbound acquires in the default world");
    assert_eq!(sim.free_credentials_handle(creds.handle), SecStatus::SEC_E_OK);
}

/// Runs each round trip a few times and checks the simulator saw no misuse and leaked nothing.
fn sanity_check() {
    for (mode, _) in JOURNAL_MODES {
        let s = sim(DriverKind::Inline, mode);
        for _ in 0..3 {
            sync_round_trip(&s, &ntlm_outbound());
        }
        assert_eq!(s.stats().credentials, 0);
        for (driver, name) in DRIVERS {
            let rig = AsyncRig::new(driver, mode);
            for _ in 0..3 {
                rig.round_trip();
            }
            let stats = rig.sim.stats();
            assert!(rig.sim.misuses().is_empty(), "{name}: {:?}", rig.sim.misuses());
            assert_eq!((stats.credentials, stats.in_flight, stats.callbacks), (0, 0, 3), "{name}");
        }
    }
}

fn round_trips(c: &mut Criterion) {
    sanity_check();
    for (mode, label) in JOURNAL_MODES {
        let mut group = c.benchmark_group(format!("{GROUP}_{label}"));
        group.sample_size(40).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        group.bench_function("sync", |b| {
            b.iter_custom(|iters| {
                let s = sim(DriverKind::Inline, mode);
                let args = ntlm_outbound();
                let start = Instant::now();
                for _ in 0..iters {
                    sync_round_trip(&s, &args);
                }
                start.elapsed()
            });
        });
        for (driver, name) in DRIVERS {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let rig = AsyncRig::new(driver, mode);
                    let start = Instant::now();
                    for _ in 0..iters {
                        rig.round_trip();
                    }
                    start.elapsed()
                });
            });
        }
        group.finish();
    }
}

fn print_ratios() {
    println!();
    println!("async/sync ratios (criterion slope estimate per round trip, 95% CI;");
    println!("target: async_manual <= 1.5x sync in the same journal mode)");
    println!("{:<14} {:<20} {:>10} {:>22} {:>8}", "journal", "bench", "ns", "95% CI", "x sync");
    for (_, label) in JOURNAL_MODES {
        let group = format!("{GROUP}_{label}");
        let Some((sync, lo, hi)) = estimate_ns(&group, "sync", "slope") else { continue };
        println!("{label:<14} {:<20} {sync:>10.1} {:>22} {:>8.2}", "sync", format!("[{lo:.1}, {hi:.1}]"), 1.0);
        for (_, name) in DRIVERS {
            if let Some((t, lo, hi)) = estimate_ns(&group, name, "slope") {
                let verdict = match name {
                    "async_manual" if t / sync <= 1.5 => "  target met",
                    "async_manual" => "  target NOT met",
                    _ => "",
                };
                println!(
                    "{label:<14} {name:<20} {t:>10.1} {:>22} {:>8.2}{verdict}",
                    format!("[{lo:.1}, {hi:.1}]"),
                    t / sync
                );
            }
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    round_trips(&mut c);
    c.final_summary();
    print_ratios();
}
