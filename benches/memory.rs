//! Memory per stored session against its compact JSON size.
//!
//! ```sh
//! BENCH_SIZES=10000,100000,1000000 cargo bench --bench memory
//! ```
//!
//! Two measures, each case in a fresh child process so that one case's heap does not inflate
//! the next one's resident size:
//!
//! - **heap**: bytes live in the Rust allocator after loading minus before, counted by a
//!   `#[global_allocator]` wrapper around `std::alloc::System` (the `stats_alloc` crate: the
//!   crate forbids `unsafe_code`, so the `unsafe impl GlobalAlloc` cannot live here). This is
//!   what the store asked for, without the allocator's own per-block overhead.
//! - **RSS**: the growth of the resident set (`/proc/self/statm`) over the same load: what the
//!   process really costs, allocator overhead and fragmentation included. `SQLite` allocates with
//!   C `malloc`, outside the Rust allocator, so for it only RSS is meaningful.
//!
//! Beside the store, three floors hold what it keeps of each session and nothing else (no
//! index, no map): the typed record alone, the compact JSON alone, and both.
//!
//! Prints a markdown table (copied into BENCHMARKS.md).

mod common;

use std::alloc::System;
use std::process::Command;
use std::sync::Arc;

use agent_sessions::model::SessionRecord;
use agent_sessions::SessionStore;
use chrono::{DateTime, Duration, Utc};
use common::{Layout, NaiveMap, RecordMaker, Rng, Sqlite, PER_PAIR};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The floors measured beside the store (see [`Sink::Floor`]).
const FLOORS: &[&str] = &["floor_typed", "floor_json", "floor_typed_and_json"];

/// How many large (100-message) and medium (12-message) sessions the large cases load.
const BIG_CASES: usize = 1_000;

fn heap_live() -> (usize, usize) {
    let s = GLOBAL.stats();
    (
        s.bytes_allocated.saturating_sub(s.bytes_deallocated),
        s.allocations.saturating_sub(s.deallocations),
    )
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Small,
    Medium,
    Large,
}

/// Where a case's sessions go.
enum Sink {
    Store(SessionStore),
    Naive(NaiveMap),
    Sqlite(Sqlite),
    /// The floors of what the store keeps of each session: its typed record alone, its
    /// compact JSON alone, or both (each behind an `Arc`, in a `Vec`: no index, no map).
    Floor {
        typed: bool,
        json: bool,
        kept: std::cell::RefCell<Vec<FloorItem>>,
    },
}

type FloorItem = (Option<Arc<SessionRecord>>, Option<Arc<[u8]>>);

impl Sink {
    fn floor(typed: bool, json: bool) -> Self {
        Sink::Floor {
            typed,
            json,
            kept: std::cell::RefCell::default(),
        }
    }

    fn put(&self, rec: SessionRecord) {
        match self {
            Sink::Store(s) => {
                s.insert(rec).expect("insert");
            }
            Sink::Naive(m) => m.insert(rec),
            Sink::Sqlite(db) => db.insert(&rec),
            Sink::Floor { typed, json, kept } => {
                let bytes = json.then(|| Arc::from(serde_json::to_vec(&rec).expect("encode")));
                kept.borrow_mut()
                    .push((typed.then(|| Arc::new(rec)), bytes));
            }
        }
    }
}

/// Loads `n` sessions of `shape` into `backend`, in a child process; prints one line:
/// `n json_bytes heap_bytes heap_blocks rss_bytes`.
fn child(backend: &str, shape: Shape, n: usize) {
    let maker = RecordMaker::new();
    let mut rng = Rng::new(0x5E55_1025);
    let base: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("base time");
    let pairs = n.div_ceil(PER_PAIR);
    let (heap0, blocks0) = heap_live();
    let rss0 = rss_bytes();
    let sink = match backend {
        "store" => Sink::Store(SessionStore::new()),
        "naive_hashmap" => Sink::Naive(NaiveMap::default()),
        "sqlite" => Sink::Sqlite(Sqlite::new()),
        "floor_typed" => Sink::floor(true, false),
        "floor_json" => Sink::floor(false, true),
        "floor_typed_and_json" => Sink::floor(true, true),
        other => panic!("unknown backend {other}"),
    };
    let mut json = 0usize;
    for i in 0..n {
        let (user, agent) = match shape {
            Shape::Small => Layout::small_pair(i % pairs),
            Shape::Medium => Layout::medium_pair(i % pairs),
            Shape::Large => Layout::large_pair(i % pairs),
        };
        let created = base + Duration::seconds(i64::try_from(i).unwrap_or(0));
        let rec = match shape {
            Shape::Small => maker.small(&user, &agent, created, &mut rng),
            Shape::Medium => maker.medium(&user, &agent, created, &mut rng),
            Shape::Large => maker.large(&user, &agent, created, &mut rng),
        };
        json += serde_json::to_vec(&rec).map_or(0, |v| v.len());
        sink.put(rec);
    }
    if let Sink::Sqlite(db) = &sink {
        db.commit();
    }
    let (heap1, blocks1) = heap_live();
    let rss1 = rss_bytes();
    println!(
        "{n} {json} {} {} {}",
        heap1.saturating_sub(heap0),
        blocks1.saturating_sub(blocks0),
        rss1.saturating_sub(rss0)
    );
    drop(sink);
}

#[allow(clippy::cast_precision_loss)]
fn per(x: usize, n: usize) -> f64 {
    x as f64 / n as f64
}

#[allow(clippy::cast_precision_loss)]
fn ratio(x: usize, y: usize) -> f64 {
    x as f64 / y as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let shape = match args[i + 2].as_str() {
            "small" => Shape::Small,
            "medium" => Shape::Medium,
            _ => Shape::Large,
        };
        child(&args[i + 1], shape, args[i + 3].parse().expect("n"));
        return;
    }
    // `cargo bench` passes `--bench`; a filter argument, if any, is ignored.
    let mut cases: Vec<(&str, &str, usize)> = Vec::new();
    for n in common::sizes() {
        for backend in FLOORS.iter().chain(&["store", "naive_hashmap", "sqlite"]) {
            cases.push((backend, "small", n));
        }
    }
    for shape in ["medium", "large"] {
        for backend in ["store", "naive_hashmap"] {
            cases.push((backend, shape, BIG_CASES));
        }
    }
    let exe = std::env::current_exe().expect("own path");
    println!(
        "| backend | records | sessions | compact JSON / session | heap / session | heap blocks \
         / session | heap ÷ JSON | RSS / session | RSS ÷ JSON |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (backend, shape, n) in cases {
        let out = Command::new(&exe)
            .args(["--case", backend, shape, &n.to_string()])
            .output()
            .expect("run a case");
        assert!(
            out.status.success(),
            "case failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<usize> = text
            .split_whitespace()
            .map(|x| x.parse().expect("a number"))
            .collect();
        let [n, json, heap, blocks, rss] = v[..] else {
            panic!("bad case output {text:?}");
        };
        let heap_cols = if backend == "sqlite" {
            "n/a (C malloc) | n/a | n/a".to_owned()
        } else {
            format!(
                "{:.0} B | {:.1} | {:.2}×",
                per(heap, n),
                per(blocks, n),
                ratio(heap, json)
            )
        };
        println!(
            "| {backend} | {shape} | {n} | {:.0} B | {heap_cols} | {:.0} B | {:.2}× |",
            per(json, n),
            per(rss, n),
            ratio(rss, json)
        );
    }
}
