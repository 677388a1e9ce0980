//! Threaded stress: 8 threads x 10,000 async acquisitions on the threaded driver. Every call
//! completes exactly once, every callback fires exactly once, nothing leaks, and the journal
//! accounts for every call.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use sspi_emu::sim::{DriverKind, FunctionId, Simulator};
use sspi_emu::{AcquireCredentials, AsyncContextHandle, Backend, CredHandle, CredentialUse, Out, SecHandle, SecStatus};

const THREADS: usize = 8;
const PER_THREAD: usize = 10_000;
const IN_FLIGHT_PER_THREAD: usize = 10;

#[test]
fn eight_threads_of_ten_thousand_async_acquisitions_complete_exactly_once() {
    let sim = Arc::new(Simulator::builder().driver(DriverKind::Threaded { workers: 2 }).build());
    let callbacks = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let sim = Arc::clone(&sim);
            let callbacks = Arc::clone(&callbacks);
            std::thread::spawn(move || {
                let (tx, rx) = mpsc::channel::<AsyncContextHandle>();
                let ctxs: Vec<AsyncContextHandle> = (0..IN_FLIGHT_PER_THREAD)
                    .map(|_| {
                        let ctx = sim.sspi_create_async_context();
                        let tx = tx.clone();
                        let counter = Arc::clone(&callbacks);
                        let cb = Arc::new(move |h: AsyncContextHandle, data: usize| {
                            assert_eq!(data, t, "CallbackData is passed unchanged");
                            counter.fetch_add(1, Ordering::Relaxed);
                            tx.send(h).expect("receiver alive");
                        });
                        assert_eq!(sim.sspi_set_async_notify_callback(ctx, Some(cb), t), SecStatus::SEC_E_OK);
                        ctx
                    })
                    .collect();
                let mut failures = 0usize;
                let mut done = 0usize;
                while done < PER_THREAD {
                    let batch = IN_FLIGHT_PER_THREAD.min(PER_THREAD - done);
                    let mut outs = HashMap::new();
                    for (i, &ctx) in ctxs.iter().take(batch).enumerate() {
                        // Every seventh call names a missing package, so failures are exercised too.
                        let package = if (done + i).is_multiple_of(7) { "Bogus" } else { "NTLM" };
                        let out = Out::new(CredHandle(SecHandle::INVALID));
                        let args = AcquireCredentials::new(package, CredentialUse::OUTBOUND);
                        assert_eq!(
                            sim.sspi_acquire_credentials_handle_async(ctx, args, &out, None),
                            SecStatus::SEC_E_OK
                        );
                        outs.insert(ctx, (out, package));
                    }
                    for _ in 0..batch {
                        let ctx = rx.recv().expect("a completion");
                        let (out, package) = outs.remove(&ctx).expect("each context completes once per call");
                        let status = sim.sspi_get_async_call_status(ctx);
                        if package == "NTLM" {
                            assert_eq!(status, SecStatus::SEC_E_OK);
                            assert_eq!(sim.free_credentials_handle(out.get()), SecStatus::SEC_E_OK);
                        } else {
                            assert_eq!(status, SecStatus::SEC_E_SECPKG_NOT_FOUND);
                            assert_eq!(out.get().0, SecHandle::INVALID, "a failed call writes no handle");
                            failures += 1;
                        }
                        assert!(sim.sspi_reinit_async_context(ctx).is_success());
                    }
                    assert!(outs.is_empty());
                    done += batch;
                }
                assert!(rx.try_recv().is_err(), "no callback fired twice");
                for ctx in ctxs {
                    sim.sspi_free_async_context(ctx);
                }
                failures
            })
        })
        .collect();
    let failures: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    // A worker may still be finishing the bookkeeping of the last call after its callback ran.
    sim.driver().unwrap().run_until_idle();
    let total = (THREADS * PER_THREAD) as u64;
    let stats = sim.stats();
    assert_eq!(callbacks.load(Ordering::Relaxed), total);
    assert_eq!((stats.completed, stats.callbacks), (total, total));
    assert_eq!((stats.async_contexts, stats.credentials, stats.in_flight), (0, 0, 0), "nothing leaks");
    assert!(sim.misuses().is_empty(), "{:?}", sim.misuses().first());
    // The journal accounts for every call: one entry per acquisition, each queued, completed
    // once with its final status, and called back once.
    let journal = sim.journal();
    let acquisitions: Vec<_> =
        journal.iter().filter(|e| e.function == FunctionId::SspiAcquireCredentialsHandleAsyncW).collect();
    assert_eq!(acquisitions.len() as u64, total);
    assert!(acquisitions.iter().all(|e| e.queue_status == Some(SecStatus::SEC_E_OK) && e.callbacks == 1));
    let not_found = acquisitions.iter().filter(|e| e.status == Some(SecStatus::SEC_E_SECPKG_NOT_FOUND)).count();
    let ok = acquisitions.iter().filter(|e| e.status == Some(SecStatus::SEC_E_OK)).count();
    assert_eq!((ok + not_found) as u64, total);
    assert_eq!(not_found, failures);
    let frees = journal.iter().filter(|e| e.function == FunctionId::FreeCredentialsHandle).count();
    assert_eq!(frees, ok);
}
