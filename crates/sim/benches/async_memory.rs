//! Target 3 of the performance issue: memory per idle async context (budget: 240 bytes) and
//! whether one million live contexts fit.
//!
//! No allocator hook is possible here (a `GlobalAlloc` needs `unsafe impl`, and the workspace
//! forbids `unsafe`), so the bench reads `VmRSS` / `VmData` / `VmHWM` from `/proc/self/status`
//! around each phase and divides the growth by the number of contexts. Each journal mode runs in
//! a child process of its own (this binary, re-run with `SSPI_EMU_MEM_SCENARIO` set), so the
//! heap of one scenario cannot hide the growth of the next.
//!
//! Phases, with 1,000,000 contexts:
//! 1. `create`: `sspi_create_async_context` 1,000,000 times (idle contexts, no callback);
//! 2. `+callback`: `sspi_set_async_notify_callback` on each, all sharing one `Arc` callback;
//! 3. `free all`: `sspi_free_async_context` on each (what the table keeps afterwards);
//! 4. `re-create`: 1,000,000 contexts again (reusing the freed slots).
//!
//! The caller's `Vec` of handles is allocated and touched before the first reading, so it is
//! not counted. It prints numbers and asserts only that the contexts could be created. Run:
//! `cargo bench -p sspi-emu-sim --bench async_memory`. See `docs/PERFORMANCE.md`.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use sspi_emu_api::{AsyncContextHandle, Backend, NotifyCallback, SecStatus};
use sspi_emu_sim::{JournalEntry, JournalMode, Simulator, async_context_slot_bytes};

const CONTEXTS: usize = 1_000_000;
const SCENARIO_VAR: &str = "SSPI_EMU_MEM_SCENARIO";
const BUDGET: f64 = 240.0;

/// `VmRSS`, `VmData` and `VmHWM` of this process, in bytes.
#[derive(Clone, Copy)]
struct Mem {
    rss: u64,
    data: u64,
    hwm: u64,
}

fn mem() -> Mem {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable (Linux)");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Mem { rss: field("VmRSS:"), data: field("VmData:"), hwm: field("VmHWM:") }
}

fn row(mode: &str, phase: &str, from: Mem, to: Mem, secs: f64) {
    let per = |a: u64, b: u64| (b as f64 - a as f64) / CONTEXTS as f64;
    let rss = per(from.rss, to.rss);
    let verdict = match phase {
        "create" | "+callback (cumulative)" if rss <= BUDGET => "within 240 B",
        "create" | "+callback (cumulative)" => "OVER 240 B",
        _ => "",
    };
    println!(
        "{mode:<7} {phase:<24} {:>10.1} {:>10.1} {:>9.1} {:>10.0} {:>8.3}  {verdict}",
        rss,
        per(from.data, to.data),
        to.rss as f64 / 1_048_576.0,
        to.hwm as f64 / 1_048_576.0,
        secs,
    );
}

/// One scenario, in its own process.
fn scenario(mode: JournalMode, label: &str) {
    let sim = Simulator::builder().journal(mode).build();
    // Allocate and touch the caller's handle array before measuring (non-zero fill, so the pages
    // are really written and not left as lazily-zeroed memory).
    let mut handles = vec![AsyncContextHandle(u64::MAX); CONTEXTS];
    let callback: NotifyCallback = Arc::new(|_, _| {});
    // Warm up: let the simulator make whatever it makes lazily.
    let warm = sim.sspi_create_async_context();
    sim.sspi_free_async_context(warm);

    let m0 = mem();
    let t = Instant::now();
    for h in &mut handles {
        *h = sim.sspi_create_async_context();
        assert!(!h.is_null(), "context creation failed: one million live contexts do not fit");
    }
    let create_secs = t.elapsed().as_secs_f64();
    let m1 = mem();
    assert_eq!(sim.stats().async_contexts, CONTEXTS);

    let t = Instant::now();
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(sim.sspi_set_async_notify_callback(*h, Some(Arc::clone(&callback)), i), SecStatus::SEC_E_OK);
    }
    let callback_secs = t.elapsed().as_secs_f64();
    let m2 = mem();

    let t = Instant::now();
    for h in &handles {
        sim.sspi_free_async_context(*h);
    }
    let free_secs = t.elapsed().as_secs_f64();
    let m3 = mem();
    assert_eq!(sim.stats().async_contexts, 0);

    let t = Instant::now();
    for h in &mut handles {
        *h = sim.sspi_create_async_context();
        assert!(!h.is_null());
    }
    let recreate_secs = t.elapsed().as_secs_f64();
    let m4 = mem();

    row(label, "create", m0, m1, create_secs);
    row(label, "+callback (cumulative)", m0, m2, callback_secs);
    row(label, "free all (cumulative)", m0, m3, free_secs);
    row(label, "re-create (cumulative)", m0, m4, recreate_secs);
    println!("{label:<7} journal entries: {}", sim.journal_len());
}

fn main() {
    match std::env::var(SCENARIO_VAR).as_deref() {
        Ok("off") => return scenario(JournalMode::Off, "off"),
        Ok("full") => return scenario(JournalMode::Full, "full"),
        _ => {}
    }
    println!("memory per async context, {CONTEXTS} contexts (budget: {BUDGET} B per idle context)");
    println!("async_context_slot_bytes() = {} B (one table slot)", async_context_slot_bytes());
    println!(
        "size_of::<JournalEntry>() = {} B (the read-back form; stored records are smaller, see the full rows)",
        std::mem::size_of::<JournalEntry>()
    );
    println!(
        "{:<7} {:<24} {:>10} {:>10} {:>9} {:>10} {:>8}",
        "journal", "phase", "RSS B/ctx", "Data B/ctx", "RSS MiB", "HWM MiB", "secs"
    );
    let exe = std::env::current_exe().expect("the bench knows its own path");
    for mode in ["off", "full"] {
        let status = Command::new(&exe).env(SCENARIO_VAR, mode).status().expect("the bench can re-run itself");
        assert!(status.success(), "the {mode} scenario failed: {status}");
    }
    println!("(B/ctx = growth of VmRSS / VmData since before the first create, divided by {CONTEXTS})");
}
