//! The async engine through the facade: callback ordering, drivers, faults, strict mode, the
//! journal, and the `AsyncCall` helper.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use sspi_emu::sim::{DriverKind, FaultRule, FunctionId, Profile, Simulator};
use sspi_emu::{
    AcquireCredentials, AsyncCall, AsyncContextHandle, AuthIdentity, Backend, CredHandle, CredentialUse, Out,
    SecHandle, SecStatus, TimeStamp,
};

fn ntlm() -> AcquireCredentials {
    AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND)
}

fn unwritten() -> Out<CredHandle> {
    Out::new(CredHandle(SecHandle::INVALID))
}

/// The callback polls the context: it must already see the final status, never "pending".
fn status_seen_inside_callback(driver: DriverKind) -> SecStatus {
    let sim = Arc::new(Simulator::builder().driver(driver).build());
    let seen = Arc::new(Mutex::new(None));
    let weak: Weak<Simulator> = Arc::downgrade(&sim);
    let s = Arc::clone(&seen);
    let ctx = sim.sspi_create_async_context();
    let cb = Arc::new(move |h: AsyncContextHandle, _| {
        let sim = weak.upgrade().expect("simulator alive");
        *s.lock() = Some(sim.sspi_get_async_call_status(h));
    });
    sim.sspi_set_async_notify_callback(ctx, Some(cb), 0);
    let out = unwritten();
    let args = AcquireCredentials::new("Bogus", CredentialUse::OUTBOUND);
    assert_eq!(sim.sspi_acquire_credentials_handle_async(ctx, args, &out, None), SecStatus::SEC_E_OK);
    sim.driver().unwrap().run_until_idle();

    seen.lock().expect("callback fired")
}

#[test]
fn callback_sees_the_final_status_on_every_driver() {
    for driver in [DriverKind::Inline, DriverKind::Manual, DriverKind::Threaded { workers: 2 }] {
        assert_eq!(status_seen_inside_callback(driver), SecStatus::SEC_E_SECPKG_NOT_FOUND, "{driver:?}");
    }
}

#[test]
fn callback_may_free_its_own_context() {
    let sim = Arc::new(Simulator::builder().driver(DriverKind::Manual).build());
    let weak = Arc::downgrade(&sim);
    let ctx = sim.sspi_create_async_context();
    let cb = Arc::new(move |h: AsyncContextHandle, _| weak.upgrade().unwrap().sspi_free_async_context(h));
    sim.sspi_set_async_notify_callback(ctx, Some(cb), 0);
    let out = unwritten();
    sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &out, None);
    assert_eq!(sim.stats().async_contexts, 1);
    assert!(sim.driver().unwrap().step());
    assert_eq!(sim.stats().async_contexts, 0, "freed by its callback");
    assert!(sim.misuses().is_empty(), "freeing a completed context in its callback is supported [D]");
    assert_eq!(sim.free_credentials_handle(out.get()), SecStatus::SEC_E_OK);
}

#[test]
fn inline_driver_fires_the_callback_before_the_queueing_call_returns() {
    let sim = Simulator::new();
    let fired = Arc::new(AtomicU32::new(0));
    let f = Arc::clone(&fired);
    let ctx = sim.sspi_create_async_context();
    sim.sspi_set_async_notify_callback(
        ctx,
        Some(Arc::new(move |_, _| {
            f.fetch_add(1, Ordering::SeqCst);
        })),
        0,
    );
    let out = unwritten();
    assert_eq!(sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &out, None), SecStatus::SEC_E_OK);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert_ne!(out.get().0, SecHandle::INVALID);
    sim.free_credentials_handle(out.get());
    sim.sspi_free_async_context(ctx);
}

#[test]
fn manual_driver_completes_in_queue_order_and_outputs_wait_for_completion() {
    let sim = Simulator::builder().driver(DriverKind::Manual).build();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut calls = Vec::new();
    for i in 0..3usize {
        let ctx = sim.sspi_create_async_context();
        let o = Arc::clone(&order);
        sim.sspi_set_async_notify_callback(ctx, Some(Arc::new(move |_, data| o.lock().push(data))), i);
        let (cred, expiry) = (unwritten(), Out::new(TimeStamp(0)));
        sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &cred, Some(&expiry));
        calls.push((ctx, cred, expiry));
    }
    for (_, cred, expiry) in &calls {
        assert_eq!(
            (cred.get().0, expiry.get()),
            (SecHandle::INVALID, TimeStamp(0)),
            "nothing written before completion"
        );
    }
    let d = sim.driver().unwrap();
    assert_eq!(d.in_flight(), 3);
    assert!(d.complete(calls[2].0), "a test may complete a chosen call first");
    assert_eq!(d.run_until_idle(), 2);
    assert!(!d.step());
    assert_eq!(*order.lock(), vec![2, 0, 1]);
    for (ctx, cred, expiry) in calls {
        assert_eq!(expiry.get(), TimeStamp(0x7FFF_FF36_D596_9FFF), "NTLM's fixed expiry");
        assert_eq!(sim.free_credentials_handle(cred.get()), SecStatus::SEC_E_OK);
        sim.sspi_free_async_context(ctx);
    }
}

#[test]
fn strict_mode_panics_on_misuse_with_a_message() {
    let sim = Simulator::builder().driver(DriverKind::Manual).strict(true).build();
    let ctx = sim.sspi_create_async_context();
    sim.sspi_free_async_context(ctx);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.sspi_get_async_call_status(ctx)))
        .expect_err("polling a freed context panics in strict mode");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("strict mode") && msg.contains("SspiGetAsyncCallStatus") && msg.contains("use after free"),
        "{msg}"
    );
}

#[test]
fn delay_fault_on_the_threaded_driver_waits_for_the_virtual_clock() {
    let sim = Simulator::builder().driver(DriverKind::Threaded { workers: 2 }).build();
    sim.add_fault(
        FaultRule::from_toml_str(
            "function = \"SspiAcquireCredentialsHandleAsync\"\naction = \"delay\"\nseconds = 30\n",
            "t",
        )
        .unwrap(),
    );
    let call = AsyncCall::new(&sim).unwrap();
    let out = unwritten();
    let start = sim.now();
    assert_eq!(sim.sspi_acquire_credentials_handle_async(call.ctx(), ntlm(), &out, None), SecStatus::SEC_E_OK);
    assert_eq!(call.wait_timeout(Duration::from_millis(50)), None, "held until the clock moves");
    sim.driver().unwrap().advance_seconds(30.0);
    assert_eq!(call.wait_timeout(Duration::from_secs(10)), Some(SecStatus::SEC_E_OK));
    assert_eq!(sim.now().0 - start.0, 30 * TimeStamp::TICKS_PER_SECOND);
    let entry =
        sim.journal().into_iter().find(|e| e.function == FunctionId::SspiAcquireCredentialsHandleAsyncW).unwrap();
    assert_eq!(entry.completed_at.unwrap().0 - entry.at.0, 30 * TimeStamp::TICKS_PER_SECOND);
    sim.free_credentials_handle(out.get());
}

#[test]
fn a_fault_on_create_gives_a_null_context() {
    let sim = Simulator::new();
    sim.add_fault(
        FaultRule::fail(FunctionId::SspiCreateAsyncContext, SecStatus::SEC_E_INSUFFICIENT_MEMORY).calls(&[2]),
    );
    let a = sim.sspi_create_async_context();
    let b = sim.sspi_create_async_context();
    let c = sim.sspi_create_async_context();
    assert!(!a.is_null() && b.is_null() && !c.is_null());
    assert!(AsyncCall::new(&sim).is_ok());
}

#[test]
fn journal_redacts_secrets_and_dumps_json() {
    let sim = Simulator::new();
    let args = ntlm().identity(AuthIdentity::unicode("bob", "CONTOSO", "TopSecret-42"));
    let c = sim.acquire_credentials_handle(args).unwrap();
    let json = sim.journal_json();
    assert!(!json.contains("TopSecret-42"), "{json}");
    assert!(json.contains("<redacted 12 chars>"), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["function"], "AcquireCredentialsHandleW");
    assert_eq!(v[0]["status"], "SEC_E_OK");
    assert_eq!(v[0]["at"], serde_json::json!(sim.world().start_time.0));
    sim.free_credentials_handle(c.handle);
}

#[test]
fn async_call_can_be_awaited() {
    let sim = Simulator::builder().driver(DriverKind::Threaded { workers: 1 }).build();
    let call = AsyncCall::new(&sim).unwrap();
    let out = unwritten();
    sim.sspi_acquire_credentials_handle_async(call.ctx(), ntlm(), &out, None);
    assert_eq!(block_on(&call), SecStatus::SEC_E_OK);
    call.reinit().unwrap();
    sim.sspi_acquire_credentials_handle_async(
        call.ctx(),
        AcquireCredentials::new("Bogus", CredentialUse::OUTBOUND),
        &unwritten(),
        None,
    );
    assert_eq!(call.wait(), SecStatus::SEC_E_SECPKG_NOT_FOUND);
    sim.free_credentials_handle(out.get());
}

/// A minimal executor: park the thread until the waker unparks it.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

#[test]
fn dropping_the_last_reference_inside_a_worker_callback_does_not_deadlock() {
    let sim = Arc::new(Simulator::builder().driver(DriverKind::Threaded { workers: 2 }).build());
    let holder: Arc<Mutex<Option<Arc<Simulator>>>> = Arc::new(Mutex::new(Some(Arc::clone(&sim))));
    let h = Arc::clone(&holder);
    let (tx, rx) = std::sync::mpsc::channel();
    let ctx = sim.sspi_create_async_context();
    sim.sspi_set_async_notify_callback(
        ctx,
        Some(Arc::new(move |_, _| {
            let last = h.lock().take();
            drop(last);
            let _ = tx.send(());
        })),
        0,
    );
    sim.sspi_acquire_credentials_handle_async(
        ctx,
        AcquireCredentials::new("Bogus", CredentialUse::OUTBOUND),
        &unwritten(),
        None,
    );
    drop(sim);
    rx.recv_timeout(Duration::from_secs(10)).expect("callback ran and dropped the simulator");
    assert!(holder.lock().is_none());
}

#[test]
fn observed_kernel_without_callback_returns_the_final_status_from_the_queueing_call() {
    let sim = Simulator::builder().profile(Profile::ObservedKernel).driver(DriverKind::Manual).build();
    let ctx = sim.sspi_create_async_context();
    let out = unwritten();
    assert_eq!(
        sim.sspi_acquire_credentials_handle_async(ctx, ntlm().logon_id(sspi_emu::Luid::from_u64(0x20b31)), &out, None),
        SecStatus::SEC_E_NOT_OWNER
    );
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_NOT_OWNER);
    assert_eq!(sim.stats().in_flight, 0);
}
