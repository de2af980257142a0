//! Scale-out benchmarks of the Redis backend (`agent_sessions::redis::RedisBackend`), against
//! AgentScope 2.0.0's own Redis access pattern run on the same server in the same run.
//!
//! ```sh
//! scripts/with-redis.sh cargo bench --features redis --bench redis
//! python3 scripts/redis-bench-summary.py target/criterion      # the tables of BENCHMARKS.md
//! ```
//!
//! On the standalone server (`AGENT_SESSIONS_REDIS_URL`), for one (user, agent) holding N small
//! sessions (N from `BENCH_REDIS_SIZES`, default `20,1000,10000`):
//!
//! - `redis_backend/list_first_page_20/N`: `list_json` of the newest 20;
//!   `redis_backend/list_typed_first_page_20/N`: the typed `list` of the same page.
//! - `agentscope_pattern/list_first_page_20/N`: what AgentScope 2.0.0 does for the same page,
//!   in Rust with the `redis` crate: `SMEMBERS agentscope:user:U:agent:A:sessions`, then one
//!   `GET agentscope:user:U:session:S` per id, one after the other (1 + N round trips), each
//!   record parsed, sorted by `created_at` descending, the first 20 encoded as the answer. The
//!   same records are loaded into that layout first; both answers are checked to be the same
//!   bytes before anything is measured.
//! - Round trips per list, from `INFO commandstats` deltas around a fixed number of lists:
//!   the calls of the commands a client sends (`EVALSHA`, `EVAL`, `SCRIPT`, `GET`,
//!   `SMEMBERS`; the commands a script runs inside Redis are counted there too, and printed
//!   apart). Printed as `round trips per list: ours X, agentscope pattern Y`.
//! - `redis_backend/create/N` (a new session in that scope; deleted again, untimed, after
//!   each sample) and `redis_backend/update_rename/N` (rename a random session of the scope).
//!
//! On the Cluster (`AGENT_SESSIONS_REDIS_CLUSTER_URLS`), `BENCH_REDIS_CLUSTER_USERS` users
//! (default 5,000) with `BENCH_REDIS_CLUSTER_PER_USER` sessions each (default 20, one agent
//! each), loaded with many inserts in flight; then the first page of random users:
//! `BENCH_REDIS_CLUSTER_LISTS` calls (default 20,000) timed one by one (p50, p99, mean
//! printed), and `redis_cluster/list_first_page_20/TOTAL` in criterion.
//!
//! `BENCH_REDIS_PARTS` (`standalone,cluster` by default) picks the parts. Without
//! `AGENT_SESSIONS_REDIS_URL` the benchmark prints how to run it and exits without measuring
//! (so that a plain `cargo bench --all-features` still runs the other benchmarks). Keys
//! written: our prefix `bench`, and `agentscope:user:redis-bench-*` for the pattern; both are
//! cleared before loading. Every call runs on a current-thread Tokio runtime.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use agent_sessions::model::SessionRecord;
use agent_sessions::redis::RedisBackend;
use agent_sessions::{ListQuery, ListSessionsResponse, NewSession, SessionBackend};
use chrono::{DateTime, Utc};
use common::{RecordMaker, Rng, PAGE};
use criterion::{black_box, BenchmarkId, Criterion};
use redis::aio::MultiplexedConnection;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// Our key prefix on the benchmark's servers.
const PREFIX: &str = "bench";
/// The agent of every benchmark scope.
const AGENT: &str = "agent-0";
/// Inserts in flight while loading.
const IN_FLIGHT: usize = 256;
/// Lists counted with `INFO commandstats`.
const COUNTED_LISTS: u64 = 20;

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| {
        v.replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {v:?} is not a number"))
    })
}

/// N from `BENCH_REDIS_SIZES`, default `20,1000,10000`.
fn sizes() -> Vec<usize> {
    env_list("BENCH_REDIS_SIZES", "20,1000,10000")
        .iter()
        .map(|s| {
            s.replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("BENCH_REDIS_SIZES: {s:?} is not a number"))
        })
        .collect()
}

/// `n` small records of one (user, agent), distinct creation times a few µs to 3 s apart.
fn records(user: &str, n: usize, rng: &mut Rng, maker: &RecordMaker) -> Vec<SessionRecord> {
    let base: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("base time");
    let mut micros = 0i64;
    (0..n)
        .map(|_| {
            micros += 1 + i64::try_from(rng.next_u64() % 3_000_000).unwrap_or(0);
            let created = base + chrono::Duration::microseconds(micros);
            maker.small(user, AGENT, created, rng)
        })
        .collect()
}

/// Inserts every record, `IN_FLIGHT` at a time.
async fn insert_all(backend: &RedisBackend, records: Vec<SessionRecord>) {
    let mut tasks: JoinSet<Result<(), agent_sessions::StoreError>> = JoinSet::new();
    for rec in records {
        if tasks.len() >= IN_FLIGHT {
            let done = tasks.join_next().await.expect("a task is running");
            done.expect("insert task").expect("insert");
        }
        let backend = backend.clone();
        tasks.spawn(async move { backend.insert(rec).await.map(|_| ()) });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("insert task").expect("insert");
    }
}

/// Runs `call(user)` for every user, `IN_FLIGHT` at a time.
async fn for_each_user<F, Fut>(users: &[String], call: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for user in users {
        if tasks.len() >= IN_FLIGHT {
            tasks.join_next().await.expect("a task").expect("task");
        }
        tasks.spawn(call(user.clone()));
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
}

fn agentscope_set(user: &str) -> String {
    format!("agentscope:user:{user}:agent:{AGENT}:sessions")
}

fn agentscope_session(user: &str, id: &str) -> String {
    format!("agentscope:user:{user}:session:{id}")
}

/// Loads the records into AgentScope 2.0.0's layout (a STRING per session, a SET of the
/// agent's session ids), after removing what a previous run left there.
async fn load_agentscope(con: &mut MultiplexedConnection, user: &str, recs: &[SessionRecord]) {
    let old: Vec<String> = redis::cmd("SMEMBERS")
        .arg(agentscope_set(user))
        .query_async(con)
        .await
        .expect("SMEMBERS");
    for chunk in old.chunks(1000) {
        let mut del = redis::cmd("DEL");
        for id in chunk {
            del.arg(agentscope_session(user, id));
        }
        del.query_async::<()>(con).await.expect("DEL");
    }
    redis::cmd("DEL")
        .arg(agentscope_set(user))
        .query_async::<()>(con)
        .await
        .expect("DEL");
    for chunk in recs.chunks(500) {
        let mut pipe = redis::pipe();
        for rec in chunk {
            let json = serde_json::to_vec(rec).expect("encode");
            pipe.cmd("SET")
                .arg(agentscope_session(user, &rec.id))
                .arg(json)
                .ignore();
            pipe.cmd("SADD")
                .arg(agentscope_set(user))
                .arg(&rec.id)
                .ignore();
        }
        pipe.query_async::<()>(con).await.expect("load pipeline");
    }
}

/// AgentScope 2.0.0's list of an agent's sessions: the id set, then one GET per session in
/// turn, every record parsed, sorted newest first; the first `PAGE` encoded.
async fn agentscope_list(con: &mut MultiplexedConnection, user: &str) -> Vec<u8> {
    let ids: Vec<String> = redis::cmd("SMEMBERS")
        .arg(agentscope_set(user))
        .query_async(con)
        .await
        .expect("SMEMBERS");
    let mut sessions = Vec::with_capacity(ids.len());
    for id in &ids {
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(agentscope_session(user, id))
            .query_async(con)
            .await
            .expect("GET");
        if let Some(raw) = raw {
            let rec: SessionRecord = serde_json::from_slice(&raw).expect("a session record");
            sessions.push(rec);
        }
    }
    sessions.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    let total = sessions.len();
    let page = ListSessionsResponse {
        sessions: sessions.into_iter().take(PAGE).map(Into::into).collect(),
        total,
    };
    serde_json::to_vec(&page).expect("encode the page")
}

/// `calls` per command from `INFO commandstats`.
async fn commandstats(con: &mut MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(con)
        .await
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// The commands a client sends (as opposed to the ones a script runs inside Redis, which
/// `INFO commandstats` counts too).
const CLIENT_COMMANDS: [&str; 5] = ["evalsha", "eval", "script", "get", "smembers"];

/// Round trips per call of `work` (run `COUNTED_LISTS` times), from the server's statistics:
/// the calls of `CLIENT_COMMANDS`. Returns (round trips per call, every command Redis ran
/// per call, scripts' included, as "cmd x.xx, ..."); `INFO` itself left out.
async fn round_trips<F, Fut>(con: &mut MultiplexedConnection, mut work: F) -> (f64, String)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = commandstats(con).await;
    for _ in 0..COUNTED_LISTS {
        work().await;
    }
    let after = commandstats(con).await;
    let mut per: Vec<(String, f64)> = after
        .iter()
        .filter(|(name, _)| name.as_str() != "info")
        .filter_map(|(name, &calls)| {
            let delta = calls - before.get(name).copied().unwrap_or(0);
            #[allow(clippy::cast_precision_loss)]
            (delta > 0).then(|| (name.clone(), delta as f64 / COUNTED_LISTS as f64))
        })
        .collect();
    per.sort_by(|a, b| a.0.cmp(&b.0));
    let trips = per
        .iter()
        .filter(|(name, _)| CLIENT_COMMANDS.contains(&name.as_str()))
        .map(|(_, x)| x)
        .sum();
    let breakdown = per
        .iter()
        .map(|(name, x)| format!("{name} {x:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    (trips, breakdown)
}

/// Times `iters` runs of `call` on the runtime (one `block_on` for all of them).
fn timed<F, Fut>(rt: &Runtime, iters: u64, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(call().await);
        }
        start.elapsed()
    })
}

fn standalone(c: &mut Criterion, rt: &Runtime, url: &str) {
    let backend = rt.block_on(async {
        RedisBackend::builder()
            .key_prefix(PREFIX)
            .connect(url)
            .await
            .expect("connect")
    });
    let mut con = rt.block_on(async {
        redis::Client::open(url)
            .expect("Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect")
    });
    let config: Vec<String> = rt.block_on(async {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("append*")
            .query_async(&mut con)
            .await
            .unwrap_or_default()
    });
    eprintln!("standalone Redis at {url}: {}", config.join(" "));
    let maker = RecordMaker::new();
    let mut rng = Rng::new(0x4ED1_5000);
    for n in sizes() {
        let user = format!("redis-bench-{n}");
        let recs = records(&user, n, &mut rng, &maker);
        let ids: Vec<String> = recs.iter().map(|r| r.id.clone()).collect();
        let started = Instant::now();
        rt.block_on(async {
            backend.delete_all(&user).await.expect("clear our scope");
            load_agentscope(&mut con, &user, &recs).await;
            insert_all(&backend, recs).await;
        });
        eprintln!(
            "N={n}: loaded ours and the AgentScope layout in {:.1?}",
            started.elapsed()
        );
        let query = ListQuery::new(&user, AGENT).limit(PAGE);

        // Same answer, byte for byte.
        let (ours, theirs, typed) = rt.block_on(async {
            (
                backend.list_json(&query).await.expect("list_json"),
                agentscope_list(&mut con, &user).await,
                backend.list(&query).await.expect("list"),
            )
        });
        assert_eq!(ours, theirs, "N={n}: the two answers differ");
        assert_eq!(typed.total, n);
        assert_eq!(serde_json::to_vec(&typed).expect("encode"), ours);

        let (ours_rt, ours_by) = {
            let (backend, query) = (&backend, &query);
            rt.block_on(round_trips(&mut con.clone(), move || async move {
                black_box(backend.list_json(query).await.expect("list_json"));
            }))
        };
        let (theirs_rt, theirs_by) = {
            let (lister, user) = (&con, &user);
            rt.block_on(round_trips(&mut con.clone(), move || async move {
                black_box(agentscope_list(&mut lister.clone(), user).await);
            }))
        };
        println!(
            "N={n}: round trips per list: ours {ours_rt:.2}, agentscope pattern {theirs_rt:.2} \
             (commands Redis ran per list, scripts' included: ours {ours_by}; \
             agentscope pattern {theirs_by})"
        );

        let scope = Scope {
            n,
            backend: &backend,
            con: &con,
            user: &user,
            query: &query,
            ids: &ids,
        };
        bench_backend(c, rt, &scope);
        bench_pattern(c, rt, &scope);
        let count = rt.block_on(backend.count(&user, AGENT)).expect("count");
        assert_eq!(count, n, "the scope kept N sessions");
    }
}

/// One scope of N sessions, loaded in both layouts.
struct Scope<'a> {
    n: usize,
    backend: &'a RedisBackend,
    con: &'a MultiplexedConnection,
    user: &'a str,
    query: &'a ListQuery,
    ids: &'a [String],
}

/// `redis_backend/*/N`: lists, update and create on our backend.
fn bench_backend(c: &mut Criterion, rt: &Runtime, s: &Scope<'_>) {
    let (n, backend, user, query, ids) = (s.n, s.backend, s.user, s.query, s.ids);
    let mut g = c.benchmark_group("redis_backend");
    if n >= 1000 {
        g.sample_size(20);
    }
    g.bench_function(BenchmarkId::new("list_first_page_20", n), |b| {
        b.iter_custom(|iters| timed(rt, iters, move || backend.list_json(query)));
    });
    g.bench_function(BenchmarkId::new("list_typed_first_page_20", n), |b| {
        b.iter_custom(|iters| timed(rt, iters, move || backend.list(query)));
    });
    let mut pick = Rng::new(7);
    g.bench_function(BenchmarkId::new("update_rename", n), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let id = &ids[pick.below(ids.len())];
                    let name = format!("renamed {}", i % 10);
                    let mut rename = |r: &mut SessionRecord| r.config.name.clone_from(&name);
                    black_box(
                        backend
                            .update(user, AGENT, id, &mut rename)
                            .await
                            .expect("update"),
                    );
                }
                start.elapsed()
            })
        });
    });
    g.bench_function(BenchmarkId::new("create", n), |b| {
        // Times the creates only; they are deleted again afterwards, untimed, so the
        // scope keeps N sessions.
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut made = Vec::new();
                let start = Instant::now();
                for _ in 0..iters {
                    let new = NewSession::new(user, AGENT)
                        .workspace_id(common::workspace(user, 0))
                        .name("new session");
                    made.push(backend.create(new).await.expect("create").record.id.clone());
                }
                let took = start.elapsed();
                let mut tasks = JoinSet::new();
                for id in made {
                    if tasks.len() >= IN_FLIGHT {
                        tasks.join_next().await.expect("a task").expect("task");
                    }
                    let (backend, user) = (backend.clone(), user.to_owned());
                    tasks.spawn(async move {
                        backend.delete(&user, AGENT, &id).await.expect("delete");
                    });
                }
                while let Some(done) = tasks.join_next().await {
                    done.expect("task");
                }
                took
            })
        });
    });
    g.finish();
}

/// `agentscope_pattern/list_first_page_20/N`.
fn bench_pattern(c: &mut Criterion, rt: &Runtime, s: &Scope<'_>) {
    let (n, con, user) = (s.n, s.con, s.user);
    let mut g = c.benchmark_group("agentscope_pattern");
    if n >= 1000 {
        g.sample_size(10);
    }
    g.bench_function(BenchmarkId::new("list_first_page_20", n), |b| {
        b.iter_custom(|iters| {
            let mut lister = con.clone();
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(agentscope_list(&mut lister, user).await);
                }
                start.elapsed()
            })
        });
    });
    g.finish();
}

/// The value at `q` (0..=1) of sorted `v`.
fn percentile(v: &[Duration], q: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let at = ((v.len() - 1) as f64 * q).round() as usize;
    v[at]
}

fn cluster(c: &mut Criterion, rt: &Runtime, urls: &[String]) {
    let users_n = env_usize("BENCH_REDIS_CLUSTER_USERS", 5000);
    let per_user = env_usize("BENCH_REDIS_CLUSTER_PER_USER", 20);
    let lists = env_usize("BENCH_REDIS_CLUSTER_LISTS", 20_000);
    let total = users_n * per_user;
    let backend = rt.block_on(async {
        RedisBackend::builder()
            .key_prefix(PREFIX)
            .connect_cluster(urls)
            .await
            .expect("connect")
    });
    let users: Vec<String> = (0..users_n).map(|i| format!("cluster-{i:06}")).collect();
    let started = Instant::now();
    rt.block_on(for_each_user(&users, |user| {
        let backend = backend.clone();
        async move {
            backend.delete_all(&user).await.expect("clear a user");
        }
    }));
    let cleared = started.elapsed();
    let maker = RecordMaker::new();
    let mut rng = Rng::new(0xC1_0573);
    let started = Instant::now();
    // Users one after the other, so that the in-flight inserts are spread over the users (and
    // slots) of a window of IN_FLIGHT / per_user users.
    let mut recs: Vec<SessionRecord> = Vec::with_capacity(total);
    for user in &users {
        recs.extend(records(user, per_user, &mut rng, &maker));
    }
    let generated = started.elapsed();
    let started = Instant::now();
    rt.block_on(insert_all(&backend, recs));
    let loaded = started.elapsed();
    #[allow(clippy::cast_precision_loss)]
    let rate = total as f64 / loaded.as_secs_f64();
    println!(
        "cluster ({} nodes given): {total} sessions over {users_n} users ({per_user} each): \
         loaded in {loaded:.1?} ({rate:.0} inserts/s, {IN_FLIGHT} in flight; \
         records made in {generated:.1?}, previous run's keys cleared in {cleared:.1?})",
        urls.len()
    );
    let first = rt
        .block_on(backend.list(&ListQuery::new(&users[0], AGENT).limit(PAGE)))
        .expect("list");
    assert_eq!(first.total, per_user);
    assert_eq!(first.sessions.len(), per_user.min(PAGE));

    // Random users' first pages, each call timed.
    let mut pick = Rng::new(11);
    let queries: Vec<ListQuery> = (0..lists)
        .map(|_| ListQuery::new(&users[pick.below(users.len())], AGENT).limit(PAGE))
        .collect();
    let mut took: Vec<Duration> = rt.block_on(async {
        let mut took = Vec::with_capacity(lists);
        for q in &queries {
            let start = Instant::now();
            black_box(backend.list_json(q).await.expect("list_json"));
            took.push(start.elapsed());
        }
        took
    });
    took.sort_unstable();
    let sum: Duration = took.iter().sum();
    let mean = sum / u32::try_from(took.len()).unwrap_or(u32::MAX);
    println!(
        "cluster: list_json of a random user's first page ({lists} calls, one at a time): \
         p50 {:.1?}, p99 {:.1?}, mean {mean:.1?}, max {:.1?}",
        percentile(&took, 0.50),
        percentile(&took, 0.99),
        took.last().copied().unwrap_or_default(),
    );

    let mut g = c.benchmark_group("redis_cluster");
    let mut at = 0usize;
    g.bench_function(BenchmarkId::new("list_first_page_20", total), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    at = (at + 1) % queries.len();
                    black_box(backend.list_json(&queries[at]).await.expect("list_json"));
                }
                start.elapsed()
            })
        });
    });
    g.finish();
}

fn main() {
    let Ok(url) = std::env::var("AGENT_SESSIONS_REDIS_URL") else {
        eprintln!(
            "benches/redis.rs: AGENT_SESSIONS_REDIS_URL is not set; nothing measured. \
             Run under scripts/with-redis.sh: \
             scripts/with-redis.sh cargo bench --features redis --bench redis"
        );
        return;
    };
    let cluster_urls = env_list("AGENT_SESSIONS_REDIS_CLUSTER_URLS", "");
    let parts = env_list("BENCH_REDIS_PARTS", "standalone,cluster");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    if parts.iter().any(|p| p == "standalone") {
        standalone(&mut c, &rt, &url);
    }
    if parts.iter().any(|p| p == "cluster") {
        if cluster_urls.is_empty() {
            eprintln!(
                "benches/redis.rs: AGENT_SESSIONS_REDIS_CLUSTER_URLS is not set; the Cluster \
                 part is skipped (run under scripts/with-redis.sh)"
            );
        } else {
            cluster(&mut c, &rt, &cluster_urls);
        }
    }
    c.final_summary();
}
