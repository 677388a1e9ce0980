//! Target 2 of the performance issue: completed async acquisitions per second on the threaded
//! driver with 2 workers and 1,000 calls in flight (target: >= 500,000/s).
//!
//! 1,000 contexts each have a callback; the bench queues an acquisition on every one, and each
//! time one completes it polls the status, frees the acquired credential, reinitialises the
//! context and queues on it again, until [`COMPLETIONS`] acquisitions have completed. Criterion
//! reports the rate (`Throughput::Elements`). Two shapes:
//!
//! * `requeue_on_bench_thread` (the shape): the callback pushes the context's index onto
//!   a crossbeam channel; the bench thread does the poll/free/reinit/queue. Three busy threads
//!   (2 workers + the bench thread) share the 2 cores of the reference machine.
//! * `requeue_in_callback`: the callback itself does the poll/free/reinit/queue on the worker
//!   thread, so only the 2 workers are busy; this shows what the engine sustains when the client
//!   is not a separate thread.
//!
//! Both with `JournalMode::Full` and `JournalMode::Off`. Each iteration builds a fresh simulator
//! and its 1,000 contexts outside the timed region. Run:
//! `cargo bench -p sspi-emu-sim --bench async_throughput`. See `docs/PERFORMANCE.md`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use crossbeam_channel::{Receiver, Sender};
use sspi_emu_api::{AcquireCredentials, AsyncContextHandle, Backend, CredHandle, NtStatus, Out, SecStatus};
use sspi_emu_sim::{DriverKind, JournalMode, Simulator};

use common::{JOURNAL_MODES, contexts_with_callback, estimate_ns, ntlm_outbound, sim, wait_until};

/// Calls kept in flight.
const IN_FLIGHT: usize = 1_000;
/// Completed acquisitions per measured iteration.
const COMPLETIONS: u64 = 100_000;
/// The driver under test.
const DRIVER: DriverKind = DriverKind::Threaded { workers: 2 };
/// How long a completion may take before the bench gives up (a lost completion is a bug).
const PATIENCE: Duration = Duration::from_secs(30);

const GROUP: &str = "async_acquire_throughput";

/// Polls, frees the acquired credential and reinitialises `ctx`: the client's work per completion.
fn finish(sim: &Simulator, ctx: AsyncContextHandle, cred: &Out<CredHandle>) {
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_OK);
    assert_eq!(sim.free_credentials_handle(cred.get()), SecStatus::SEC_E_OK);
    assert_eq!(sim.sspi_reinit_async_context(ctx), NtStatus::STATUS_SUCCESS);
}

fn queue(sim: &Simulator, ctx: AsyncContextHandle, args: &AcquireCredentials, cred: &Out<CredHandle>) {
    let status = sim.sspi_acquire_credentials_handle_async(ctx, args.clone(), cred, None);
    assert_eq!(status, SecStatus::SEC_E_OK);
}

/// Waits for the last callbacks to return, then checks nothing leaked.
fn settle(sim: &Simulator, completions: u64) {
    wait_until(|| sim.stats().in_flight == 0);
    let stats = sim.stats();
    assert_eq!((stats.credentials, stats.completed), (0, completions));
    assert!(sim.misuses().is_empty(), "{:?}", sim.misuses());
}

/// The shape: completions arrive on a channel; the bench thread re-queues.
struct ChannelPool {
    sim: Simulator,
    ctxs: Vec<AsyncContextHandle>,
    creds: Vec<Out<CredHandle>>,
    done: Receiver<usize>,
    args: AcquireCredentials,
}

impl ChannelPool {
    fn new(journal: JournalMode) -> Self {
        let sim = sim(DRIVER, journal);
        let (tx, done) = crossbeam_channel::unbounded::<usize>();
        let callback: sspi_emu_api::NotifyCallback = Arc::new(move |_, index| {
            let _ = tx.send(index);
        });
        let ctxs: Vec<AsyncContextHandle> = contexts_with_callback(&sim, IN_FLIGHT, &callback);
        let creds = (0..IN_FLIGHT).map(|_| Out::new(CredHandle::default())).collect();
        Self { sim, ctxs, creds, done, args: ntlm_outbound() }
    }

    /// Runs `n` acquisitions to completion, keeping `IN_FLIGHT` queued; returns the time taken.
    fn run(&self, n: u64) -> Duration {
        let start = Instant::now();
        let mut queued = 0u64;
        for (ctx, cred) in self.ctxs.iter().zip(&self.creds).take(n.min(IN_FLIGHT as u64) as usize) {
            queue(&self.sim, *ctx, &self.args, cred);
            queued += 1;
        }
        for _ in 0..n {
            let i = self.done.recv_timeout(PATIENCE).expect("a queued acquisition never completed");
            finish(&self.sim, self.ctxs[i], &self.creds[i]);
            if queued < n {
                queue(&self.sim, self.ctxs[i], &self.args, &self.creds[i]);
                queued += 1;
            }
        }
        let elapsed = start.elapsed();
        settle(&self.sim, n);
        elapsed
    }
}

/// What the in-callback shape's callbacks share.
struct Shared {
    sim: OnceLock<Weak<Simulator>>,
    creds: Vec<Out<CredHandle>>,
    args: AcquireCredentials,
    target: u64,
    queued: AtomicU64,
    completed: AtomicU64,
    all_done: Sender<()>,
}

/// The engine-bound shape: each callback re-queues its own context on the worker thread.
struct CallbackPool {
    sim: Arc<Simulator>,
    ctxs: Vec<AsyncContextHandle>,
    shared: Arc<Shared>,
    all_done: Receiver<()>,
}

impl CallbackPool {
    fn new(journal: JournalMode, n: u64) -> Self {
        let sim = Arc::new(sim(DRIVER, journal));
        let (tx, all_done) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared {
            sim: OnceLock::new(),
            creds: (0..IN_FLIGHT).map(|_| Out::new(CredHandle::default())).collect(),
            args: ntlm_outbound(),
            target: n,
            queued: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            all_done: tx,
        });
        // The callbacks hold the simulator weakly: the simulator owns them.
        let _ = shared.sim.set(Arc::downgrade(&sim));
        let s = Arc::clone(&shared);
        let callback: sspi_emu_api::NotifyCallback = Arc::new(move |ctx, i| {
            let Some(sim) = s.sim.get().and_then(Weak::upgrade) else { return };
            finish(&sim, ctx, &s.creds[i]);
            if s.queued.fetch_add(1, Ordering::AcqRel) < s.target {
                queue(&sim, ctx, &s.args, &s.creds[i]);
            }
            if s.completed.fetch_add(1, Ordering::AcqRel) + 1 == s.target {
                let _ = s.all_done.send(());
            }
        });
        let ctxs = contexts_with_callback(&sim, IN_FLIGHT, &callback);
        Self { sim, ctxs, shared, all_done }
    }

    fn run(&self) -> Duration {
        let first = self.shared.target.min(IN_FLIGHT as u64);
        let start = Instant::now();
        self.shared.queued.store(first, Ordering::Release);
        for (ctx, cred) in self.ctxs.iter().zip(&self.shared.creds).take(first as usize) {
            queue(&self.sim, *ctx, &self.shared.args, cred);
        }
        self.all_done.recv_timeout(PATIENCE).expect("a queued acquisition never completed");
        let elapsed = start.elapsed();
        settle(&self.sim, self.shared.target);
        elapsed
    }
}

fn throughput(c: &mut Criterion) {
    // Sanity: both shapes complete exactly what they queue, with no misuse and no leak.
    for (mode, _) in JOURNAL_MODES {
        ChannelPool::new(mode).run(3 * IN_FLIGHT as u64);
        CallbackPool::new(mode, 3 * IN_FLIGHT as u64).run();
    }
    for (mode, label) in JOURNAL_MODES {
        let mut group = c.benchmark_group(format!("{GROUP}_{label}"));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(4))
            .throughput(Throughput::Elements(COMPLETIONS));
        group.bench_function("requeue_on_bench_thread", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| ChannelPool::new(mode).run(COMPLETIONS)).sum());
        });
        group.bench_function("requeue_in_callback", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| CallbackPool::new(mode, COMPLETIONS).run()).sum());
        });
        group.finish();
    }
}

fn print_rates() {
    println!();
    println!("completed acquisitions/s, threaded driver, 2 workers, {IN_FLIGHT} in flight (target: >= 500,000/s)");
    println!("{:<14} {:<26} {:>12} {:>26}", "journal", "bench", "per second", "95% CI");
    for (_, label) in JOURNAL_MODES {
        let group = format!("{GROUP}_{label}");
        for id in ["requeue_on_bench_thread", "requeue_in_callback"] {
            if let Some((t, lo, hi)) = estimate_ns(&group, id, "mean") {
                let rate = |ns: f64| COMPLETIONS as f64 / (ns * 1e-9);
                let verdict = if rate(t) >= 500_000.0 { "target met" } else { "target NOT met" };
                let ci = format!("[{:.0}, {:.0}]", rate(hi), rate(lo));
                println!("{label:<14} {id:<26} {:>12.0} {ci:>26}  {verdict}", rate(t));
            }
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    c.final_summary();
    if std::env::args().any(|a| a == "--bench") && !std::env::args().any(|a| a == "--list") {
        print_rates();
    }
}
