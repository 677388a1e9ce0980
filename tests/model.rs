//! A model test of the async context state table: random sequences of create / set callback /
//! queue / poll / step / complete / reinit / free / requires-notify, on the simulator with the
//! manual driver, against a small reference model. 1,000+ cases.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use proptest::prelude::*;
use sspi_emu::sim::{DriverKind, Simulator};
use sspi_emu::{
    AcquireCredentials, AsyncContextHandle, Backend, CredHandle, CredentialUse, NtStatus, Out, SecHandle, SecStatus,
};

const SLOTS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    SetCallback(usize, bool),
    Queue(usize, bool),
    Poll(usize),
    Step,
    Complete(usize),
    Reinit(usize),
    Free(usize),
    RequiresNotify(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    prop_oneof![
        slot.clone().prop_map(Op::Create),
        (slot.clone(), any::<bool>()).prop_map(|(s, b)| Op::SetCallback(s, b)),
        (slot.clone(), any::<bool>()).prop_map(|(s, b)| Op::Queue(s, b)),
        slot.clone().prop_map(Op::Poll),
        Just(Op::Step),
        slot.clone().prop_map(Op::Complete),
        slot.clone().prop_map(Op::Reinit),
        slot.clone().prop_map(Op::Free),
        slot.prop_map(Op::RequiresNotify),
    ]
}

/// The reference model of one context, as its owner sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Idle,
    Pending(SecStatus),
    Completed(SecStatus),
    /// Freed (or freed while pending): the handle is stale for the caller.
    Freed,
}

#[derive(Debug)]
struct Ctx {
    handle: AsyncContextHandle,
    state: State,
    callback: bool,
    /// The callback registered when the call was queued fires at completion.
    expected_callbacks: u32,
}

struct Model {
    slots: [Option<Ctx>; SLOTS],
    /// Queued calls in FIFO order: (handle, final status, callback registered, freed while pending).
    fifo: VecDeque<AsyncContextHandle>,
    pending_final: HashMap<u64, (SecStatus, bool)>,
    extra_callbacks: HashMap<u64, u32>,
}

impl Model {
    fn complete(&mut self, h: AsyncContextHandle) {
        let (status, cb) = self.pending_final.remove(&h.0).expect("pending");
        let slot = self.slots.iter_mut().flatten().find(|c| c.handle == h);
        match slot {
            Some(c) if c.state != State::Freed => {
                c.state = State::Completed(status);
                if cb {
                    c.expected_callbacks += 1;
                }
            }
            _ => {
                // Freed while pending (maybe the slot was reused since): the callback still fires.
                if cb {
                    *self.extra_callbacks.entry(h.0).or_default() += 1;
                }
            }
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let sim = Simulator::builder().driver(DriverKind::Manual).build();
    let fired: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let mut m = Model {
        slots: Default::default(),
        fifo: VecDeque::new(),
        pending_final: HashMap::new(),
        extra_callbacks: HashMap::new(),
    };
    let mut outputs: Vec<Out<CredHandle>> = Vec::new();
    let d = sim.driver().expect("driver");
    for op in ops {
        match op {
            Op::Create(s) => {
                if m.slots[s].as_ref().is_some_and(|c| c.state != State::Freed) {
                    continue; // keep every live context reachable, so leaks are checkable
                }
                if let Some(old) = m.slots[s].take() {
                    // The freed context's callbacks stay counted under its handle.
                    *m.extra_callbacks.entry(old.handle.0).or_default() += old.expected_callbacks;
                }
                let h = sim.sspi_create_async_context();
                prop_assert!(!h.is_null());
                prop_assert_eq!(sim.sspi_get_async_call_status(h), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
                m.slots[s] = Some(Ctx { handle: h, state: State::Idle, callback: false, expected_callbacks: 0 });
            }
            Op::SetCallback(s, on) => {
                let Some(c) = m.slots[s].as_mut() else { continue };
                let f = Arc::clone(&fired);
                let cb: Option<sspi_emu::NotifyCallback> =
                    on.then(|| Arc::new(move |h: AsyncContextHandle, _| *f.lock().entry(h.0).or_default() += 1) as _);
                let got = sim.sspi_set_async_notify_callback(c.handle, cb, 7);
                let want = match c.state {
                    State::Idle | State::Completed(_) => {
                        c.callback = on;
                        SecStatus::SEC_E_OK
                    }
                    State::Pending(_) => SecStatus::SEC_E_INVALID_PARAMETER,
                    State::Freed => SecStatus::SEC_E_INVALID_HANDLE,
                };
                prop_assert_eq!(got, want);
            }
            Op::Queue(s, good) => {
                let Some(c) = m.slots[s].as_mut() else { continue };
                let out = Out::new(CredHandle(SecHandle::INVALID));
                let package = if good { "NTLM" } else { "Bogus" };
                let got = sim.sspi_acquire_credentials_handle_async(
                    c.handle,
                    AcquireCredentials::new(package, CredentialUse::OUTBOUND),
                    &out,
                    None,
                );
                let want = match c.state {
                    State::Idle => {
                        let fin = if good { SecStatus::SEC_E_OK } else { SecStatus::SEC_E_SECPKG_NOT_FOUND };
                        c.state = State::Pending(fin);
                        m.fifo.push_back(c.handle);
                        m.pending_final.insert(c.handle.0, (fin, c.callback));
                        SecStatus::SEC_E_OK
                    }
                    State::Pending(_) | State::Completed(_) => SecStatus::SEC_E_INVALID_PARAMETER,
                    State::Freed => SecStatus::SEC_E_INVALID_HANDLE,
                };
                prop_assert_eq!(got, want);
                outputs.push(out);
            }
            Op::Poll(s) => {
                let Some(c) = m.slots[s].as_ref() else { continue };
                let want = match c.state {
                    State::Idle => SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
                    State::Pending(_) => SecStatus::SEC_I_ASYNC_CALL_PENDING,
                    State::Completed(st) => st,
                    State::Freed => SecStatus::SEC_E_INVALID_HANDLE,
                };
                prop_assert_eq!(sim.sspi_get_async_call_status(c.handle), want);
            }
            Op::Step => {
                let want = m.fifo.pop_front();
                prop_assert_eq!(d.step(), want.is_some());
                if let Some(h) = want {
                    m.complete(h);
                }
            }
            Op::Complete(s) => {
                let Some(c) = m.slots[s].as_ref() else { continue };
                let h = c.handle;
                let queued = m.fifo.iter().position(|x| *x == h);
                prop_assert_eq!(d.complete(h), queued.is_some());
                if let Some(i) = queued {
                    m.fifo.remove(i);
                    m.complete(h);
                }
            }
            Op::Reinit(s) => {
                let Some(c) = m.slots[s].as_mut() else { continue };
                let got = sim.sspi_reinit_async_context(c.handle);
                let want = match c.state {
                    State::Idle | State::Completed(_) => {
                        c.state = State::Idle;
                        NtStatus::STATUS_SUCCESS
                    }
                    State::Pending(_) => NtStatus::STATUS_INVALID_PARAMETER,
                    State::Freed => NtStatus::STATUS_INVALID_HANDLE,
                };
                prop_assert_eq!(got, want);
            }
            Op::Free(s) => {
                let Some(c) = m.slots[s].as_mut() else { continue };
                sim.sspi_free_async_context(c.handle);
                c.state = State::Freed;
            }
            Op::RequiresNotify(s) => {
                let Some(c) = m.slots[s].as_ref() else { continue };
                let want = c.state != State::Freed && c.callback;
                prop_assert_eq!(sim.sspi_async_context_requires_notify(c.handle), want);
            }
        }
        prop_assert_eq!(sim.stats().in_flight, m.fifo.len());
    }
    // Drain: every queued call completes exactly once, every callback fires exactly once.
    let remaining: Vec<_> = m.fifo.drain(..).collect();
    prop_assert_eq!(d.run_until_idle(), remaining.len());
    for h in remaining {
        m.complete(h);
    }
    let fired = fired.lock().clone();
    m.extra_callbacks.retain(|_, n| *n > 0);
    let mut expected: HashMap<u64, u32> = m.extra_callbacks.clone();
    for c in m.slots.iter().flatten() {
        if c.expected_callbacks > 0 {
            *expected.entry(c.handle.0).or_default() += c.expected_callbacks;
        }
    }
    prop_assert_eq!(&fired, &expected);
    // No leaks: free what is live, then nothing is left.
    for c in m.slots.iter().flatten().filter(|c| c.state != State::Freed) {
        sim.sspi_free_async_context(c.handle);
    }
    for out in outputs {
        let h = out.get();
        if h.0 != SecHandle::INVALID {
            prop_assert_eq!(sim.free_credentials_handle(h), SecStatus::SEC_E_OK);
        }
    }
    let stats = sim.stats();
    prop_assert_eq!((stats.async_contexts, stats.credentials, stats.in_flight), (0, 0, 0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn async_context_state_table_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
