//! Runs one operation of `benches/compare.rs` N times, for instruction counts under callgrind:
//! `valgrind --tool=callgrind target/release/examples/count <emu-ntlm|rs-ntlm|emu-nego|rs-nego|emu-seal|floor|floor-ntlm|floor-nego> N`;
//! and `count interleave PAIRS CHUNK` times the handshakes in alternation (docs/PERFORMANCE.md).
#![allow(clippy::unwrap_used, missing_docs, dead_code)]

#[path = "../benches/compare.rs"]
mod compare;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
    if args.get(1).map(String::as_str) == Some("interleave") {
        let chunk = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(200);
        compare::interleave(n, chunk);
        return;
    }
    compare::run_named(args.get(1).map(String::as_str).unwrap_or("emu-ntlm"), n);
}
