//! Criterion benchmarks of `SessionStore` against a locked `HashMap`, `SQLite` in memory and
//! `serde_json`, on stores of N realistic sessions (`BENCH_SIZES`, default `10000,100000`).
//!
//! ```sh
//! BENCH_SIZES=10000,100000,1000000 cargo bench --bench store
//! ```
//!
//! Each size's store (and baselines) is built once and shared by every benchmark of that size.
//! Reads run first, then the concurrent runs, then the writes (which keep the store's size).
//! See BENCHMARKS.md for the results and what they mean.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use agent_sessions::model::{Msg, SessionRecord};
use agent_sessions::{Cursor, ListQuery, ListSessionsResponse, NewSession, Order, SessionStore};
use common::floors::{self, Appends, FirstPages};
use common::{
    body_from_rows, load, workspace, Key, Keys, Layout, NaiveMap, Rng, Sqlite, PAGE, PER_PAIR,
};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// One size's store, baselines and pre-built inputs.
struct Fixture {
    n: usize,
    store: SessionStore,
    naive: NaiveMap,
    sqlite: Sqlite,
    keys: Keys,
    /// First page (limit 20) of every small (user, agent) pair.
    first_pages: Vec<ListQuery>,
    /// The same, filtered by one of the user's three workspaces.
    filtered: Vec<ListQuery>,
    /// Pages as `store.list` returns them, for the `serde_json` baseline.
    pages: Vec<ListSessionsResponse>,
    /// The deep pair's page at `deep_offset`, by offset and by cursor.
    deep_offset: usize,
    deep_by_offset: ListQuery,
    deep_by_cursor: ListQuery,
    /// The `SQLite` keyset position of the same page (`created_at` of the session before it).
    deep_before_micros: i64,
    /// The message an update appends.
    message: Msg,
    /// Each `first_pages` entry's (user, agent), and the list floors of those pages.
    pairs: Vec<(String, String)>,
    floors: FirstPages,
    /// A sample of the large and of the small records, for the encode floors.
    large_records: Vec<Arc<SessionRecord>>,
    small_records: Vec<Arc<SessionRecord>>,
}

impl Fixture {
    fn build(n: usize) -> Self {
        let started = Instant::now();
        let layout = Layout::new(n);
        let store = SessionStore::new();
        let naive = NaiveMap::default();
        let sqlite = Sqlite::new();
        let keys = load(&layout, &store, Some(&naive), Some(&sqlite));
        assert_eq!(store.len(), n);

        let first_pages: Vec<ListQuery> = (0..layout.small_pairs)
            .map(|p| {
                let (u, a) = Layout::small_pair(p);
                ListQuery::new(u, a).limit(PAGE)
            })
            .collect();
        let filtered: Vec<ListQuery> = first_pages
            .iter()
            .enumerate()
            .map(|(p, q)| {
                q.clone()
                    .workspace_id(workspace(&q.user_id, (p % 3) as u64))
            })
            .collect();
        let mut rng = Rng::new(7);
        let pages: Vec<ListSessionsResponse> = (0..1024)
            .map(|_| store.list(&first_pages[rng.below(first_pages.len())]))
            .collect();

        let (du, da) = Layout::deep_pair();
        let deep_offset = layout.deep_len / 2;
        let deep_by_offset = ListQuery::new(&du, &da).limit(PAGE).offset(deep_offset);
        let before = store.list(&ListQuery::new(&du, &da).limit(1).offset(deep_offset - 1));
        let before = &before.sessions[0];
        let deep_by_cursor = ListQuery::new(&du, &da)
            .limit(PAGE)
            .cursor(Cursor::after(before, Order::CreatedDesc));
        let deep_before_micros = before.created_at.timestamp_micros();

        let mut rng = Rng::new(11);
        let message = common::RecordMaker::new().short_message(&mut rng);
        let pairs = first_pages
            .iter()
            .map(|q| (q.user_id.clone(), q.agent_id.clone()))
            .collect();
        let floors = FirstPages::from_store(&store, &first_pages);
        let sample = |keys: &[Key], n: usize, rng: &mut Rng| -> Vec<Arc<SessionRecord>> {
            (0..n)
                .map(|_| {
                    let k = &keys[rng.below(keys.len())];
                    store
                        .get(&k.user, &k.agent, &k.id)
                        .expect("a stored session")
                })
                .collect()
        };
        // The encode floors encode stored records picked at random from the same sessions the
        // store's updates pick from: the same work on the same (cold, at 1M) memory.
        let large_records = sample(&keys.large, keys.large.len(), &mut rng);
        let small_records = sample(&keys.small, keys.small.len(), &mut rng);
        let fx = Self {
            n,
            store,
            naive,
            sqlite,
            keys,
            first_pages,
            filtered,
            pages,
            deep_offset,
            deep_by_offset,
            deep_by_cursor,
            deep_before_micros,
            message,
            pairs,
            floors,
            large_records,
            small_records,
        };
        fx.check();
        eprintln!(
            "built N={n}: {} small pairs of {PER_PAIR}, deep pair of {}, {} large sessions, \
             mean page {} B, in {:.1?}",
            layout.small_pairs,
            layout.deep_len,
            fx.keys.large.len(),
            fx.pages.iter().map(common::page_bytes).sum::<usize>() / fx.pages.len(),
            started.elapsed()
        );
        fx
    }

    /// The harnesses agree on what they return.
    fn check(&self) {
        let q = &self.first_pages[0];
        let page = self.store.list(q);
        assert_eq!(page.sessions.len(), PAGE);
        assert_eq!(self.store.list_json(q), serde_json::to_vec(&page).unwrap());
        let (naive, total) = self.naive.list(&q.user_id, &q.agent_id, None, PAGE);
        assert_eq!(total, page.total);
        assert!(naive.iter().zip(&page.sessions).all(|(a, b)| a == &**b));
        let (rows, total) = self.sqlite.list(&q.user_id, &q.agent_id, 0);
        assert_eq!(total, page.total);
        assert_eq!(
            body_from_rows(&rows, total),
            serde_json::to_vec(&page).unwrap()
        );
        let a = self.store.list(&self.deep_by_offset);
        let b = self.store.list(&self.deep_by_cursor);
        assert_eq!(a.sessions, b.sessions);
        let (rows, _) = self
            .sqlite
            .list_after(&a.sessions[0].user_id, &a.sessions[0].agent_id, {
                self.deep_before_micros
            });
        assert_eq!(rows[0], serde_json::to_string(&*a.sessions[0]).unwrap());
        let f = self.store.list(&self.filtered[0]);
        let ws = self.filtered[0].workspace_id.as_deref();
        let (rows, total) = self
            .sqlite
            .list_workspace(&q.user_id, &q.agent_id, ws.unwrap());
        assert_eq!((rows.len(), total), (f.sessions.len(), f.total));
    }

    fn small(&self, rng: &mut Rng) -> &Key {
        &self.keys.small[rng.below(self.keys.small.len())]
    }

    fn large(&self, rng: &mut Rng) -> &Key {
        &self.keys.large[rng.below(self.keys.large.len())]
    }

    fn medium(&self, rng: &mut Rng) -> &Key {
        &self.keys.medium[rng.below(self.keys.medium.len())]
    }
}

/// Appends `msg` to a context of `keep` messages, dropping the oldest so the session keeps its
/// size from one iteration to the next.
fn append(rec: &mut SessionRecord, msg: &Msg, keep: usize) {
    let ctx = &mut rec.state.context;
    if ctx.len() >= keep {
        ctx.remove(0);
    }
    ctx.push(msg.clone().into());
}

/// A rename that keeps the record's size: adds a `!`, or takes it away.
fn rename(name: &mut String) {
    if name.ends_with('!') {
        name.pop();
    } else {
        name.push('!');
    }
}

fn slow(g: &mut Group<'_>) {
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
}

fn list_first_page(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let mut g = c.benchmark_group("list_first_page");
    let mut rng = Rng::new(1);
    g.bench_function(BenchmarkId::new("store_list", n), |b| {
        b.iter(|| {
            fx.store
                .list(&fx.first_pages[rng.below(fx.first_pages.len())])
        });
    });
    g.bench_function(BenchmarkId::new("store_list_json", n), |b| {
        b.iter(|| {
            fx.store
                .list_json(&fx.first_pages[rng.below(fx.first_pages.len())])
        });
    });
    g.bench_function(BenchmarkId::new("floor_records", n), |b| {
        b.iter(|| fx.floors.list(&fx.pairs[rng.below(fx.pairs.len())]));
    });
    g.bench_function(BenchmarkId::new("floor_json", n), |b| {
        b.iter(|| fx.floors.list_json(&fx.pairs[rng.below(fx.pairs.len())]));
    });
    g.bench_function(BenchmarkId::new("serde_json_to_vec_page", n), |b| {
        b.iter(|| serde_json::to_vec(&fx.pages[rng.below(fx.pages.len())]).unwrap());
    });
    g.bench_function(BenchmarkId::new("sqlite_rows", n), |b| {
        b.iter(|| {
            let q = &fx.first_pages[rng.below(fx.first_pages.len())];
            fx.sqlite.list(&q.user_id, &q.agent_id, 0)
        });
    });
    g.bench_function(BenchmarkId::new("sqlite_rows_decoded", n), |b| {
        b.iter(|| {
            let q = &fx.first_pages[rng.below(fx.first_pages.len())];
            let (rows, total) = fx.sqlite.list(&q.user_id, &q.agent_id, 0);
            let recs: Vec<SessionRecord> = rows
                .iter()
                .map(|r| serde_json::from_str(r).unwrap())
                .collect();
            (recs, total)
        });
    });
    if n >= 100_000 {
        slow(&mut g);
    }
    g.bench_function(BenchmarkId::new("naive_hashmap", n), |b| {
        b.iter(|| {
            let q = &fx.first_pages[rng.below(fx.first_pages.len())];
            fx.naive.list(&q.user_id, &q.agent_id, None, PAGE)
        });
    });
    g.finish();
}

/// The same page over and over: what a list costs when its sessions are in cache (a busy
/// user's page; the figure the planning numbers were taken with). `list_first_page` picks a
/// random pair each time, so that at 100k and 1M its sessions are mostly out of cache.
fn list_first_page_hot(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let mut g = c.benchmark_group("list_first_page_hot");
    let q = &fx.first_pages[0];
    let page = fx.store.list(q);
    assert_eq!(page.sessions.len(), PAGE);
    g.bench_function(BenchmarkId::new("store_list", n), |b| {
        b.iter(|| fx.store.list(q));
    });
    g.bench_function(BenchmarkId::new("store_list_json", n), |b| {
        b.iter(|| fx.store.list_json(q));
    });
    g.bench_function(BenchmarkId::new("serde_json_to_vec_page", n), |b| {
        b.iter(|| serde_json::to_vec(&page).unwrap());
    });
    g.bench_function(BenchmarkId::new("sqlite_rows", n), |b| {
        b.iter(|| fx.sqlite.list(&q.user_id, &q.agent_id, 0));
    });
    g.finish();
}

fn list_deep(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let (du, da) = Layout::deep_pair();
    let mut g = c.benchmark_group("list_deep_offset");
    g.bench_function(BenchmarkId::new("store_list", n), |b| {
        b.iter(|| fx.store.list(&fx.deep_by_offset));
    });
    g.bench_function(BenchmarkId::new("store_list_json", n), |b| {
        b.iter(|| fx.store.list_json(&fx.deep_by_offset));
    });
    g.bench_function(BenchmarkId::new("sqlite_rows", n), |b| {
        b.iter(|| fx.sqlite.list(&du, &da, fx.deep_offset));
    });
    g.finish();
    let mut g = c.benchmark_group("list_deep_cursor");
    g.bench_function(BenchmarkId::new("store_list", n), |b| {
        b.iter(|| fx.store.list(&fx.deep_by_cursor));
    });
    g.bench_function(BenchmarkId::new("store_list_json", n), |b| {
        b.iter(|| fx.store.list_json(&fx.deep_by_cursor));
    });
    g.bench_function(BenchmarkId::new("store_list_from_text_cursor", n), |b| {
        // What a server does per request: parse the client's cursor, build the query.
        let text = fx.deep_by_cursor.cursor.as_ref().unwrap().to_string();
        b.iter(|| {
            let cursor: Cursor = text.parse().unwrap();
            fx.store
                .list_json(&ListQuery::new(&du, &da).limit(PAGE).cursor(cursor))
        });
    });
    g.bench_function(BenchmarkId::new("sqlite_rows_keyset", n), |b| {
        b.iter(|| fx.sqlite.list_after(&du, &da, fx.deep_before_micros));
    });
    g.finish();
}

fn list_filtered(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let mut g = c.benchmark_group("list_filtered_workspace");
    let mut rng = Rng::new(2);
    g.bench_function(BenchmarkId::new("store_list", n), |b| {
        b.iter(|| fx.store.list(&fx.filtered[rng.below(fx.filtered.len())]));
    });
    g.bench_function(BenchmarkId::new("store_list_json", n), |b| {
        b.iter(|| {
            fx.store
                .list_json(&fx.filtered[rng.below(fx.filtered.len())])
        });
    });
    g.bench_function(BenchmarkId::new("sqlite_rows", n), |b| {
        b.iter(|| {
            let q = &fx.filtered[rng.below(fx.filtered.len())];
            let ws = q.workspace_id.as_deref().unwrap();
            fx.sqlite.list_workspace(&q.user_id, &q.agent_id, ws)
        });
    });
    if n >= 100_000 {
        slow(&mut g);
    }
    g.bench_function(BenchmarkId::new("naive_hashmap", n), |b| {
        b.iter(|| {
            let q = &fx.filtered[rng.below(fx.filtered.len())];
            let ws = q.workspace_id.as_deref();
            fx.naive.list(&q.user_id, &q.agent_id, ws, PAGE)
        });
    });
    g.finish();
}

fn get(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let mut g = c.benchmark_group("get");
    let mut rng = Rng::new(3);
    g.bench_function(BenchmarkId::new("store_get", n), |b| {
        b.iter(|| {
            let k = fx.small(&mut rng);
            fx.store.get(&k.user, &k.agent, &k.id).unwrap()
        });
    });
    g.bench_function(BenchmarkId::new("store_get_json", n), |b| {
        b.iter(|| {
            let k = fx.small(&mut rng);
            fx.store.get_json(&k.user, &k.agent, &k.id).unwrap()
        });
    });
    g.bench_function(BenchmarkId::new("naive_hashmap_clone", n), |b| {
        b.iter(|| fx.naive.get(&fx.small(&mut rng).id).unwrap());
    });
    g.bench_function(BenchmarkId::new("sqlite_json", n), |b| {
        b.iter(|| fx.sqlite.get(&fx.small(&mut rng).id).unwrap());
    });
    g.finish();
}

/// Runs `work(thread, iters)` on `threads` threads at once; the wall time from their common
/// start to the last one's end.
fn parallel(threads: usize, iters: u64, work: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    let start = std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                work(t, iters);
            });
        }
        barrier.wait();
        Instant::now()
    });
    start.elapsed()
}

static SEED: AtomicU64 = AtomicU64::new(100);

fn thread_rng(t: usize) -> Rng {
    Rng::new(SEED.fetch_add(1, Ordering::Relaxed) * 31 + t as u64)
}

/// A thread's workload: `iters` typed lists of random pairs' first pages.
fn list_random_pages<'a>(
    store: &'a SessionStore,
    pages: &'a [ListQuery],
) -> impl Fn(usize, u64) + Sync + 'a {
    move |t, iters| {
        let mut rng = thread_rng(t);
        for _ in 0..iters {
            black_box(store.list(&pages[rng.below(pages.len())]));
        }
    }
}

/// A thread's workload: `work(thread, iters)`.
type Work<'a> = &'a (dyn Fn(usize, u64) + Sync);

fn concurrent(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    // Only what is Sync (the SQLite baseline is not).
    let (store, pages, keys) = (&fx.store, &fx.first_pages[..], &fx.keys.small[..]);
    let pick = move |rng: &mut Rng| &keys[rng.below(keys.len())];
    let list = list_random_pages(store, pages);
    let list_json = |t: usize, iters: u64| {
        let mut rng = thread_rng(t);
        for _ in 0..iters {
            black_box(store.list_json(&pages[rng.below(pages.len())]));
        }
    };
    let get = |t: usize, iters: u64| {
        let mut rng = thread_rng(t);
        for _ in 0..iters {
            let k = pick(&mut rng);
            black_box(store.get(&k.user, &k.agent, &k.id));
        }
    };
    let update = |t: usize, iters: u64| {
        let mut rng = thread_rng(t);
        for i in 0..iters {
            let k = pick(&mut rng);
            let name = format!("renamed {t} {i}");
            let rec = store.update(&k.user, &k.agent, &k.id, |r| {
                r.config.name.clone_from(&name);
            });
            black_box(rec.unwrap());
        }
    };
    // 9 lists for each update.
    let mixed = |t: usize, iters: u64| {
        let mut rng = thread_rng(t);
        for i in 0..iters {
            if i % 10 == 9 {
                let k = pick(&mut rng);
                let _ = store.update(&k.user, &k.agent, &k.id, |r| r.state.cur_iter += 1);
            } else {
                black_box(store.list(&pages[rng.below(pages.len())]));
            }
        }
    };
    // Calibration: pure arithmetic, nothing shared. Its 2-thread speed-up is the most this
    // machine gives (2 vCPUs may share a physical core or be throttled by the host).
    let alu = |t: usize, iters: u64| {
        let mut rng = thread_rng(t);
        for _ in 0..iters {
            let mut x = 0u64;
            for _ in 0..64 {
                x ^= rng.next_u64();
            }
            black_box(x);
        }
    };
    let mut g = c.benchmark_group("concurrent");
    // Threads make these noisier: measure longer.
    g.measurement_time(Duration::from_secs(3));
    let runs: [(&str, Work<'_>); 6] = [
        ("calibrate_alu", &alu),
        ("list", &list),
        ("list_json", &list_json),
        ("get", &get),
        ("update_small", &update),
        ("mixed_90r_10w", &mixed),
    ];
    for (name, work) in runs {
        for threads in [1, 2] {
            g.throughput(Throughput::Elements(threads as u64));
            g.bench_function(BenchmarkId::new(format!("{name}_{threads}t"), n), |b| {
                b.iter_custom(|iters| parallel(threads, iters, work));
            });
        }
    }
    g.finish();
}

/// How much the two threads get in each other's way: disjoint pairs, and a reader beside a
/// writer.
fn interference(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let (store, pages, keys) = (&fx.store, &fx.first_pages[..], &fx.keys.small[..]);
    let pick = move |rng: &mut Rng| &keys[rng.below(keys.len())];
    let list = list_random_pages(store, pages);
    let mut g = c.benchmark_group("concurrent");
    g.measurement_time(Duration::from_secs(3));
    // Diagnostic: the two threads list disjoint halves of the pairs (even / odd), so they never
    // touch the same records' reference counts; compare with list_2t.
    g.throughput(Throughput::Elements(2));
    g.bench_function(BenchmarkId::new("list_disjoint_pairs_2t", n), |b| {
        b.iter_custom(|iters| {
            parallel(2, iters, &|t, iters| {
                let mut rng = thread_rng(t);
                let half = pages.len() / 2;
                for _ in 0..iters {
                    black_box(store.list(&pages[rng.below(half) * 2 + t]));
                }
            })
        });
    });
    // One thread lists while the other keeps updating sessions of the same pairs: the reader's
    // throughput under writes (compare with list_1t).
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("list_with_writer_2t", n), |b| {
        b.iter_custom(|iters| {
            let done = AtomicBool::new(false);
            parallel(2, iters, &|t, iters| {
                if t == 0 {
                    list(t, iters);
                    done.store(true, Ordering::Relaxed);
                } else {
                    let mut rng = thread_rng(t);
                    while !done.load(Ordering::Relaxed) {
                        let k = pick(&mut rng);
                        let _ = store.update(&k.user, &k.agent, &k.id, |r| r.state.cur_iter += 1);
                    }
                }
            })
        });
    });
    g.finish();
}

fn update(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let msg = &fx.message;
    let medium_len = fx
        .store
        .get(
            &fx.keys.medium[0].user,
            &fx.keys.medium[0].agent,
            &fx.keys.medium[0].id,
        )
        .map_or(0, |r| r.state.context.len());
    let mut g = c.benchmark_group("update_append_message");
    let mut rng = Rng::new(4);
    g.bench_function(BenchmarkId::new("store_update", n), |b| {
        b.iter(|| {
            let k = fx.large(&mut rng);
            fx.store
                .update(&k.user, &k.agent, &k.id, |r| {
                    append(r, msg, common::LARGE_CONTEXT);
                })
                .unwrap()
        });
    });
    g.bench_function(BenchmarkId::new("floor_encode", n), |b| {
        b.iter(|| floors::encode(&fx.large_records[rng.below(fx.large_records.len())]));
    });
    g.bench_function(BenchmarkId::new("naive_hashmap_in_place", n), |b| {
        b.iter(|| {
            fx.naive.update(&fx.large(&mut rng).id, |r| {
                append(r, msg, common::LARGE_CONTEXT);
            })
        });
    });
    g.bench_function(BenchmarkId::new("sqlite_decode_encode", n), |b| {
        b.iter(|| {
            fx.sqlite.update(&fx.large(&mut rng).id, |r| {
                append(r, msg, common::LARGE_CONTEXT);
            })
        });
    });
    // The message-history form of the same change: `append_message` to a session whose
    // history holds LARGE_CONTEXT messages (the record is not rewritten). Sessions of their
    // own, made afresh (untimed) for every sample so that histories stay near that length.
    g.bench_function(BenchmarkId::new("store_append_message", n), |b| {
        let maker = common::RecordMaker::new();
        let mut rng = Rng::new(9);
        b.iter_custom(|iters| {
            let (user, agent) = ("user-history", "agent-0");
            let sessions: Vec<String> = (0..100)
                .map(|_| {
                    let session = fx.store.create(NewSession::new(user, agent)).unwrap();
                    for i in 0..common::LARGE_CONTEXT {
                        let message = maker.message(i, &mut rng);
                        fx.store
                            .append_message(user, agent, &session.id, message)
                            .unwrap();
                    }
                    session.id.clone()
                })
                .collect();
            let messages: Vec<(usize, Msg)> = (0..iters)
                .map(|_| (rng.below(sessions.len()), maker.short_message(&mut rng)))
                .collect();
            let start = Instant::now();
            for (at, message) in messages {
                fx.store
                    .append_message(user, agent, &sessions[at], message)
                    .unwrap();
            }
            let took = start.elapsed();
            fx.store.delete_agent(user, agent).unwrap();
            took
        });
    });
    g.bench_function(BenchmarkId::new("store_update_9kb_12msgs", n), |b| {
        b.iter(|| {
            let k = fx.medium(&mut rng);
            fx.store
                .update(&k.user, &k.agent, &k.id, |r| {
                    append(r, msg, medium_len);
                })
                .unwrap()
        });
    });
    g.finish();
}

fn update_small(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let mut rng = Rng::new(14);
    let mut g = c.benchmark_group("update_small_rename");
    g.bench_function(BenchmarkId::new("store_update", n), |b| {
        b.iter(|| {
            let k = fx.small(&mut rng);
            fx.store
                .update(&k.user, &k.agent, &k.id, |r| rename(&mut r.config.name))
                .unwrap()
        });
    });
    g.bench_function(BenchmarkId::new("floor_encode", n), |b| {
        b.iter(|| floors::encode(&fx.small_records[rng.below(fx.small_records.len())]));
    });
    // The write side of the first-page cache: a rename, then the list of its pair's first
    // page, which the rename emptied and this list makes again.
    g.bench_function(BenchmarkId::new("store_update_then_list_json", n), |b| {
        b.iter(|| {
            let q = &fx.first_pages[rng.below(fx.first_pages.len())];
            let id = &fx.store.list(q).sessions[0].id;
            fx.store
                .update(&q.user_id, &q.agent_id, id, |r| rename(&mut r.config.name))
                .unwrap();
            fx.store.list_json(q)
        });
    });
    g.bench_function(BenchmarkId::new("sqlite_decode_encode", n), |b| {
        b.iter(|| {
            fx.sqlite
                .update(&fx.small(&mut rng).id, |r| rename(&mut r.config.name))
        });
    });
    g.finish();
}

/// Context lengths of the state-save benchmarks.
const CONTEXT_LENGTHS: [usize; 3] = [10, 100, 1000];
/// Appends timed between two resets of the session's context (untimed).
const APPENDS_PER_RESET: u64 = 8;

/// The save of a turn: one message appended to `state.context` of a session whose context
/// holds 10, 100 or 1,000 messages, by `append_context` and by a whole-record `update`, beside
/// the append floor and the new message's own encoding.
fn state_save(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let maker = common::RecordMaker::new();
    let mut rng = Rng::new(12);
    let message = maker.short_message(&mut rng);
    let mut g = c.benchmark_group("state_save");
    let appends = Appends::default();
    let shared = Arc::new(message.clone());
    g.bench_function(BenchmarkId::new("floor_append", n), |b| {
        b.iter(|| appends.push(&shared));
    });
    g.bench_function(BenchmarkId::new("floor_encode_message", n), |b| {
        b.iter(|| serde_json::to_vec(&message).unwrap());
    });
    for len in CONTEXT_LENGTHS {
        let (user, agent) = ("user-state", "agent-0");
        let mut base = maker.large(user, agent, chrono::Utc::now(), &mut rng);
        base.state.context = (0..len)
            .map(|i| maker.message(i, &mut rng).into())
            .collect();
        let id = fx.store.insert(base.clone()).unwrap().id.clone();
        let reset = || {
            fx.store
                .replace_state(user, agent, &id, base.state.clone())
                .unwrap();
        };
        let timed = |b: &mut criterion::Bencher<'_>, save: &dyn Fn()| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    reset();
                    let batch = APPENDS_PER_RESET.min(iters - done);
                    let start = Instant::now();
                    for _ in 0..batch {
                        save();
                    }
                    took += start.elapsed();
                    done += batch;
                }
                took
            });
        };
        g.bench_function(
            BenchmarkId::new(format!("store_append_context_ctx{len}"), n),
            |b| {
                timed(b, &|| {
                    fx.store
                        .append_context(user, agent, &id, [message.clone()])
                        .unwrap();
                });
            },
        );
        g.bench_function(
            BenchmarkId::new(format!("store_update_push_ctx{len}"), n),
            |b| {
                timed(b, &|| {
                    fx.store
                        .update(user, agent, &id, |r| {
                            r.state.context.push(message.clone().into());
                        })
                        .unwrap();
                });
            },
        );
        fx.store.delete(user, agent, &id).unwrap();
    }
    g.finish();
}

fn create_delete(c: &mut Criterion, fx: &Fixture) {
    let n = fx.n;
    let mut rng = Rng::new(5);
    let mut g = c.benchmark_group("create");
    g.bench_function(BenchmarkId::new("store_create", n), |b| {
        // Times the creates only; the sessions are deleted afterwards, untimed, so the store
        // keeps its size from sample to sample.
        b.iter_custom(|iters| {
            let mut made = Vec::with_capacity(usize::try_from(iters).unwrap_or(0));
            let start = Instant::now();
            for _ in 0..iters {
                let q = &fx.first_pages[rng.below(fx.first_pages.len())];
                let rec = fx
                    .store
                    .create(
                        NewSession::new(&q.user_id, &q.agent_id)
                            .workspace_id(workspace(&q.user_id, 0))
                            .name("new session"),
                    )
                    .unwrap();
                made.push(rec);
            }
            let elapsed = start.elapsed();
            for r in made {
                fx.store.delete(&r.user_id, &r.agent_id, &r.id).unwrap();
            }
            elapsed
        });
    });
    g.finish();

    let mut g = c.benchmark_group("delete");
    g.bench_function(BenchmarkId::new("store_delete", n), |b| {
        // Times the deletes only; the sessions are put back afterwards, untimed.
        b.iter_custom(|iters| {
            let mut gone = Vec::with_capacity(usize::try_from(iters).unwrap_or(0));
            let start = Instant::now();
            for _ in 0..iters {
                let k = fx.small(&mut rng);
                if let Ok(rec) = fx.store.delete(&k.user, &k.agent, &k.id) {
                    gone.push(rec);
                }
            }
            let elapsed = start.elapsed();
            for r in gone {
                fx.store.insert(SessionRecord::clone(&r)).unwrap();
            }
            elapsed
        });
    });
    g.bench_function(BenchmarkId::new("store_delete_then_create", n), |b| {
        // A delete and a create of a replacement (same pair, same id) per iteration.
        b.iter(|| {
            let k = fx.small(&mut rng);
            let old = fx.store.delete(&k.user, &k.agent, &k.id).unwrap();
            fx.store
                .create(
                    NewSession::new(&*k.user, &*k.agent)
                        .id(&k.id)
                        .workspace_id(old.config.workspace_id.clone())
                        .name(old.config.name.clone()),
                )
                .unwrap()
        });
    });
    g.finish();
    assert_eq!(fx.store.len(), n);
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for n in common::sizes() {
        let fx = Fixture::build(n);
        list_first_page(&mut c, &fx);
        list_first_page_hot(&mut c, &fx);
        list_deep(&mut c, &fx);
        list_filtered(&mut c, &fx);
        get(&mut c, &fx);
        concurrent(&mut c, &fx);
        interference(&mut c, &fx);
        update(&mut c, &fx);
        update_small(&mut c, &fx);
        state_save(&mut c, &fx);
        create_delete(&mut c, &fx);
        let started = Instant::now();
        drop(fx);
        eprintln!("dropped N={n} in {:.1?}", started.elapsed());
    }
    c.final_summary();
}
