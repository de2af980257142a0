//! Proves that `SessionStore` stays correct under concurrent use: no lost updates (plain or
//! compare-and-swap), consistent list snapshots and cursors, exact bookkeeping when creates and
//! deletes race with `delete_agent`/`delete_all`, tenant isolation, and panic safety of updates.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Barrier, Once};
use std::thread;

use agent_sessions::model::SessionRecord;
use agent_sessions::{
    ListQuery, ListSessionsResponse, NewSession, Order, SessionStore, StoreError,
};

fn sort_key(rec: &SessionRecord, order: Order) -> (i64, String) {
    let t = if order.by_updated() {
        rec.updated_at
    } else {
        rec.created_at
    };
    (t.timestamp_micros(), rec.id.clone())
}

/// Checks that `page` is strictly in `order` (so also free of duplicate ids) and that every
/// session belongs to (`user`, `agent`).
fn assert_page_well_formed(page: &ListSessionsResponse, user: &str, agent: &str, order: Order) {
    let keys: Vec<(i64, String)> = page.sessions.iter().map(|s| sort_key(s, order)).collect();
    for w in keys.windows(2) {
        if order.descending() {
            assert!(w[0] > w[1], "{order}: {:?} before {:?}", w[0], w[1]);
        } else {
            assert!(w[0] < w[1], "{order}: {:?} before {:?}", w[0], w[1]);
        }
    }
    let ids: HashSet<&str> = page.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), page.sessions.len(), "duplicate ids in a page");
    for s in &page.sessions {
        assert_eq!((s.user_id.as_str(), s.agent_id.as_str()), (user, agent));
    }
}

#[test]
fn plain_updates_lose_no_increment() {
    const THREADS: i64 = 8;
    const PER_THREAD: i64 = 250;
    let store = SessionStore::new();
    let id = store
        .create(NewSession::new("u", "a").id("hot"))
        .unwrap()
        .id
        .clone();
    let v0 = store.get_versioned("u", "a", &id).unwrap().version;

    let seen: Vec<Vec<i64>> = thread::scope(|s| {
        let writers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    (0..PER_THREAD)
                        .map(|_| {
                            store
                                .update("u", "a", &id, |r| r.state.cur_iter += 1)
                                .unwrap()
                                .state
                                .cur_iter
                        })
                        .collect::<Vec<i64>>()
                })
            })
            .collect();
        // A reader never sees the counter or the version go back.
        s.spawn(|| {
            let mut last = (v0, 0);
            for _ in 0..2_000 {
                let v = store.get_versioned("u", "a", &id).unwrap();
                let now = (v.version, v.record.state.cur_iter);
                assert!(now.0 >= last.0 && now.1 >= last.1, "{last:?} then {now:?}");
                assert_eq!(now.0 == last.0, now.1 == last.1, "{last:?} then {now:?}");
                last = now;
            }
        });
        writers.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let total = THREADS * PER_THREAD;
    let final_rec = store.get_versioned("u", "a", &id).unwrap();
    assert_eq!(final_rec.record.state.cur_iter, total);
    assert!(final_rec.version > v0);
    // Every update returned its own value: each of 1..=total exactly once, and each thread's
    // values grow.
    for values in &seen {
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    }
    let mut all: Vec<i64> = seen.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=total).collect::<Vec<_>>());
    assert_eq!(store.len(), 1);
}

#[test]
fn compare_and_swap_loses_no_increment_and_conflicts_are_real() {
    const THREADS: i64 = 8;
    const PER_THREAD: i64 = 150;
    let store = SessionStore::new();
    store.create(NewSession::new("u", "a").id("cas")).unwrap();

    let results: Vec<(Vec<i64>, usize)> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    let mut conflicts = 0;
                    for _ in 0..PER_THREAD {
                        loop {
                            let read = store.get_versioned("u", "a", "cas").unwrap();
                            let base = read.record.state.cur_iter;
                            match store.update_if_version("u", "a", "cas", read.version, |r| {
                                // The closure sees the version it was promised.
                                assert_eq!(r.state.cur_iter, base);
                                r.state.cur_iter += 1;
                            }) {
                                Ok(v) => {
                                    assert!(v.version > read.version);
                                    assert_eq!(v.record.state.cur_iter, base + 1);
                                    mine.push(base + 1);
                                    break;
                                }
                                Err(StoreError::VersionConflict {
                                    id,
                                    expected,
                                    actual,
                                }) => {
                                    assert_eq!(id, "cas");
                                    assert_eq!(expected, read.version);
                                    assert!(actual > expected, "{actual} <= {expected}");
                                    // Someone else really wrote in between.
                                    let now = store.get_versioned("u", "a", "cas").unwrap();
                                    assert!(now.version >= actual);
                                    assert!(now.record.state.cur_iter > base);
                                    conflicts += 1;
                                }
                                Err(e) => panic!("unexpected error: {e}"),
                            }
                        }
                    }
                    (mine, conflicts)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let total = THREADS * PER_THREAD;
    assert_eq!(
        store.get("u", "a", "cas").unwrap().state.cur_iter,
        total,
        "conflicts: {}",
        results.iter().map(|r| r.1).sum::<usize>()
    );
    let mut all: Vec<i64> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=total).collect::<Vec<_>>());
}

/// One reader's checks of (u, a) in `order`, while writers run: whole and filtered lists are
/// sorted snapshots with exact totals, `list_json` is consistent, and paging by cursor sees every
/// permanent session exactly once.
fn check_list_views(
    store: &SessionStore,
    permanent: &BTreeSet<String>,
    order: Order,
    max_total: usize,
) {
    // The whole list: a snapshot, sorted, total exact.
    let q = ListQuery::new("u", "a").order(order);
    let page = store.list(&q);
    assert_eq!(page.total, page.sessions.len());
    assert_page_well_formed(&page, "u", "a", order);
    let ids: BTreeSet<String> = page.sessions.iter().map(|s| s.id.clone()).collect();
    assert!(ids.is_superset(permanent));
    assert!(page.total <= max_total);

    // Filtered: only matches, and total counts only matches.
    let q = ListQuery::new("u", "a").order(order).workspace_id("even");
    let page = store.list(&q);
    assert_eq!(page.total, page.sessions.len());
    assert_page_well_formed(&page, "u", "a", order);
    assert!(page
        .sessions
        .iter()
        .all(|s| s.config.workspace_id == "even"));

    // The JSON answer is well-formed and self-consistent.
    let body = store.list_json(&ListQuery::new("u", "a").order(order));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let arr = v["sessions"].as_array().unwrap();
    assert_eq!(v["total"].as_u64().unwrap(), arr.len() as u64);
    assert!(arr.len() >= permanent.len());
    let json_ids: HashSet<&str> = arr.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(json_ids.len(), arr.len());

    // Paging by cursor in a created_at order: strictly monotone across pages,
    // no duplicates, and every session alive throughout is seen.
    if !order.by_updated() {
        let mut q = ListQuery::new("u", "a").order(order).limit(3);
        let mut seen: Vec<(i64, String)> = Vec::new();
        for _ in 0..1_000 {
            let page = store.list(&q);
            assert!(page.sessions.len() <= 3);
            assert_page_well_formed(&page, "u", "a", order);
            seen.extend(page.sessions.iter().map(|s| sort_key(s, order)));
            match q.next_page(&page) {
                Some(next) => q = next,
                None => break,
            }
        }
        for w in seen.windows(2) {
            assert!((w[0] > w[1]) == order.descending() && w[0] != w[1]);
        }
        let seen_ids: BTreeSet<String> = seen.into_iter().map(|(_, id)| id).collect();
        assert!(seen_ids.is_superset(permanent));
    }
}

#[test]
fn lists_are_consistent_snapshots_while_writers_run() {
    const WRITERS: usize = 3;
    const ITERS: usize = 200;
    const LIVE: usize = 8; // each writer keeps at most this many of its sessions
    const READS: usize = 150;
    let store = SessionStore::new();
    // Sessions that exist before the threads start and are never deleted.
    let permanent: BTreeSet<String> = (0..6)
        .map(|i| {
            let ws = if i % 2 == 0 { "even" } else { "odd" };
            store
                .create(
                    NewSession::new("u", "a")
                        .id(format!("perm-{i}"))
                        .workspace_id(ws),
                )
                .unwrap()
                .id
                .clone()
        })
        .collect();
    // Another agent and another user, to check nothing leaks into the list.
    store.create(NewSession::new("u", "other")).unwrap();
    store.create(NewSession::new("v", "a")).unwrap();

    thread::scope(|s| {
        for w in 0..WRITERS {
            let store = &store;
            s.spawn(move || {
                for i in 0..ITERS {
                    let ws = if i % 2 == 0 { "even" } else { "odd" };
                    store
                        .create(
                            NewSession::new("u", "a")
                                .id(format!("w{w}-{i}"))
                                .workspace_id(ws),
                        )
                        .unwrap();
                    if i >= LIVE {
                        store
                            .delete("u", "a", &format!("w{w}-{}", i - LIVE))
                            .unwrap();
                    }
                    if i % 3 == 0 {
                        store
                            .update("u", "a", &format!("w{w}-{i}"), |r| r.state.cur_iter += 1)
                            .unwrap();
                    }
                }
                for i in ITERS - LIVE..ITERS {
                    store.delete("u", "a", &format!("w{w}-{i}")).unwrap();
                }
            });
        }
        let max_total = permanent.len() + WRITERS * (LIVE + 1);
        for r in 0..2 {
            let (store, permanent) = (&store, &permanent);
            s.spawn(move || {
                for i in 0..READS {
                    let order = Order::ALL[(i + r) % 4];
                    check_list_views(store, permanent, order, max_total);
                }
            });
        }
    });

    // Writers removed everything they made.
    let page = store.list(&ListQuery::new("u", "a"));
    let ids: BTreeSet<String> = page.sessions.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, permanent);
    assert_eq!(store.len(), permanent.len() + 2);
}

#[test]
fn creates_racing_with_a_partition_emptying_are_never_lost() {
    // Every thread creates, reads and deletes its own sessions in one shared (user, agent), so
    // the scope keeps becoming empty (and is dropped) while other threads insert into it: an
    // acknowledged create must stay visible until its own thread deletes it.
    const THREADS: usize = 4;
    const ITERS: usize = 1_500;
    let store = SessionStore::new();
    thread::scope(|s| {
        for t in 0..THREADS {
            let store = &store;
            s.spawn(move || {
                for i in 0..ITERS {
                    let id = format!("t{t}-{i}");
                    store
                        .create(NewSession::new("u", "a").id(id.clone()))
                        .unwrap();
                    assert!(store.get("u", "a", &id).is_some(), "{id} lost after create");
                    if i % 2 == 0 {
                        store
                            .update("u", "a", &id, |r| r.state.cur_iter += 1)
                            .unwrap_or_else(|e| panic!("{id}: {e}"));
                    }
                    let gone = store
                        .delete("u", "a", &id)
                        .unwrap_or_else(|e| panic!("{id}: {e}"));
                    assert_eq!(gone.id, id);
                }
            });
        }
    });
    assert_eq!(store.count("u", "a"), 0);
    assert_eq!(store.len(), 0);
    assert!(store.is_empty());
}

/// What one writer thread did, per (user, agent): sessions it created and deleted, each only
/// counted once the store acknowledged it.
#[derive(Default)]
struct Acks {
    created: BTreeMap<(String, String), BTreeSet<String>>,
    deleted: BTreeMap<(String, String), BTreeSet<String>>,
}

/// How many rounds each writer of the bulk-delete race runs.
const BULK_ITERS: usize = 150;

/// One writer of the bulk-delete race: creates (and often deletes at once) sessions in its own
/// scopes `owner`/a0, `owner`/a1 and the racy ones; returns what the store acknowledged.
fn bulk_writer(store: &SessionStore, w: usize, owner: &str) -> Acks {
    let mut acks = Acks::default();
    let ack_create = |acks: &mut Acks, u: &str, a: &str, id: String| {
        let rec = store
            .create(NewSession::new(u, a).id(id.clone()))
            .unwrap_or_else(|e| panic!("create {u}/{a}/{id}: {e}"));
        assert_eq!((rec.user_id.as_str(), rec.agent_id.as_str()), (u, a));
        acks.created
            .entry((u.to_owned(), a.to_owned()))
            .or_default()
            .insert(id);
    };
    for i in 0..BULK_ITERS {
        let id = |tag: &str| format!("w{w}-{tag}-{i}");
        let scopes = [
            (owner, if i % 2 == 0 { "a0" } else { "a1" }),
            ("shared", if i % 3 == 0 { "a0" } else { "a1" }),
            (owner, "doomed"),
        ];
        for (k, (u, a)) in scopes.into_iter().enumerate() {
            let new_id = id(&k.to_string());
            ack_create(&mut acks, u, a, new_id.clone());
            // Delete this one at once, sometimes, to empty partitions often
            // (racing with the other writers' inserts there).
            if (i + k) % 3 != 0 {
                match store.delete(u, a, &new_id) {
                    Ok(rec) => {
                        assert_eq!(rec.id, new_id);
                        acks.deleted
                            .entry((u.to_owned(), a.to_owned()))
                            .or_default()
                            .insert(new_id);
                    }
                    // Only a bulk delete may have taken it first.
                    Err(StoreError::NotFound { .. }) => {
                        assert!(u == "shared" || a == "doomed", "lost {u}/{a}/{new_id}");
                    }
                    Err(e) => panic!("delete {u}/{a}/{new_id}: {e}"),
                }
            }
        }
    }
    acks
}

#[test]
fn bulk_deletes_race_with_writers_and_nothing_is_lost_or_counted_twice() {
    // Scopes: ("owned-k", "a0"/"a1") are written by two writers each and never bulk-deleted, so
    // their final content is exactly the acknowledged creates minus acknowledged deletes.
    // ("shared", *) and ("owned-k", "doomed") are written by every writer while a chaos thread
    // runs delete_all("shared") and delete_agent on them; after the writers have joined, one
    // last bulk delete empties them, so every acknowledged create there was removed exactly
    // once: by its writer's acknowledged delete or counted by a bulk delete.
    const WRITERS: usize = 4;
    const CHAOS: usize = 300;
    let store = SessionStore::new();
    let owned_users = ["owned-0", "owned-1"];
    let done = AtomicBool::new(false);

    let (acks, bulk_removed): (Vec<Acks>, usize) = thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, owned_users) = (&store, &owned_users);
                s.spawn(move || bulk_writer(store, w, owned_users[w % 2]))
            })
            .collect();
        let chaos = {
            let (store, done) = (&store, &done);
            s.spawn(move || {
                let mut removed = 0;
                for i in 0..CHAOS {
                    removed += match i % 4 {
                        0 => store.delete_all("shared").unwrap(),
                        1 => store.delete_agent("shared", "a1").unwrap(),
                        2 => store.delete_agent("owned-0", "doomed").unwrap(),
                        _ => store.delete_agent("owned-1", "doomed").unwrap(),
                    };
                    // Also read the racy scopes: a bulk delete never leaves a torn list.
                    let page = store.list(&ListQuery::new("shared", "a0"));
                    assert_eq!(page.total, page.sessions.len());
                    if done.load(AtomicOrdering::Relaxed) {
                        break;
                    }
                }
                removed
            })
        };
        let acks: Vec<Acks> = writers.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, AtomicOrdering::Relaxed);
        (acks, chaos.join().unwrap())
    });

    // Every (user, agent) used.
    let mut scopes: BTreeSet<(String, String)> = BTreeSet::new();
    for a in &acks {
        scopes.extend(a.created.keys().cloned());
    }
    let counted: usize = scopes.iter().map(|(u, a)| store.count(u, a)).sum();
    assert_eq!(store.len(), counted, "len disagrees with the partitions");

    // The owned scopes: exactly what was acknowledged.
    for u in owned_users {
        for a in ["a0", "a1"] {
            let key = (u.to_owned(), a.to_owned());
            let mut expected = BTreeSet::new();
            for ack in &acks {
                let created = ack.created.get(&key).cloned().unwrap_or_default();
                let deleted = ack.deleted.get(&key).cloned().unwrap_or_default();
                expected.extend(created.difference(&deleted).cloned());
            }
            let page = store.list(&ListQuery::new(u, a));
            let ids: BTreeSet<String> = page.sessions.iter().map(|s| s.id.clone()).collect();
            assert_eq!(ids, expected, "{u}/{a}");
            for id in &expected {
                assert!(store.get(u, a, id).is_some(), "{u}/{a}/{id} lost");
            }
        }
    }

    // The racy scopes: one last bulk delete, with no writer left, empties them; then every
    // acknowledged create there was removed exactly once.
    let last = store.delete_all("shared").unwrap()
        + store.delete_agent("owned-0", "doomed").unwrap()
        + store.delete_agent("owned-1", "doomed").unwrap();
    let racy = |(u, a): &(String, String)| u == "shared" || a == "doomed";
    let created: usize = acks
        .iter()
        .flat_map(|ack| ack.created.iter().filter(|(k, _)| racy(k)))
        .map(|(_, ids)| ids.len())
        .sum();
    let deleted: usize = acks
        .iter()
        .flat_map(|ack| ack.deleted.iter().filter(|(k, _)| racy(k)))
        .map(|(_, ids)| ids.len())
        .sum();
    assert_eq!(
        created,
        deleted + bulk_removed + last,
        "created {created}, deleted one by one {deleted}, by bulk deletes {bulk_removed} + {last}"
    );
    for (u, a) in scopes.iter().filter(|k| racy(k)) {
        assert_eq!(store.count(u, a), 0);
        assert_eq!(store.list(&ListQuery::new(u.clone(), a.clone())).total, 0);
    }
    let remaining: usize = scopes.iter().map(|(u, a)| store.count(u, a)).sum();
    assert_eq!(store.len(), remaining);
    let owned: usize = owned_users
        .iter()
        .flat_map(|u| ["a0", "a1"].map(|a| store.count(u, a)))
        .sum();
    assert_eq!(remaining, owned);
}

#[test]
fn tenants_never_see_each_other_under_concurrency() {
    const ITERS: usize = 150;
    let ids = ["same-0", "same-1", "same-2", "same-3"];
    let store = SessionStore::new();

    thread::scope(|s| {
        // One thread per (user, agent): each is the only writer of its scope, so its view of
        // the scope must match its own bookkeeping exactly, whatever the others do with the
        // same agent ids and session ids.
        for user in ["alice", "bob"] {
            for agent in ["a0", "a1"] {
                let store = &store;
                s.spawn(move || {
                    let tag = format!("{user}/{agent}");
                    let mut mine: BTreeMap<&str, i64> = BTreeMap::new();
                    for i in 0..ITERS {
                        let id = ids[i % ids.len()];
                        match i % 5 {
                            0 | 1 => match store
                                .create(NewSession::new(user, agent).id(id).name(tag.clone()))
                            {
                                Ok(rec) => {
                                    assert!(mine.insert(id, 0).is_none(), "{tag}/{id} existed");
                                    assert_eq!(rec.config.name, tag);
                                }
                                Err(StoreError::DuplicateId {
                                    user_id,
                                    agent_id,
                                    id: dup,
                                }) => {
                                    assert!(mine.contains_key(id), "{tag}/{id} is not mine");
                                    assert_eq!(
                                        (user_id, agent_id, dup),
                                        (user.to_owned(), agent.to_owned(), id.to_owned())
                                    );
                                }
                                Err(e) => panic!("{tag}: {e}"),
                            },
                            2 => match store.update(user, agent, id, |r| {
                                assert_eq!(r.config.name, tag);
                                r.state.cur_iter += 1;
                            }) {
                                Ok(rec) => {
                                    let n = mine.get_mut(id).expect("updated a foreign session");
                                    *n += 1;
                                    assert_eq!(rec.state.cur_iter, *n);
                                    assert_eq!(rec.user_id, user);
                                }
                                Err(StoreError::NotFound { .. }) => {
                                    assert!(!mine.contains_key(id), "{tag}/{id} not found");
                                }
                                Err(e) => panic!("{tag}: {e}"),
                            },
                            3 => match store.delete(user, agent, id) {
                                Ok(rec) => {
                                    assert_eq!(rec.config.name, tag);
                                    assert_eq!(
                                        Some(rec.state.cur_iter),
                                        mine.remove(id),
                                        "deleted a foreign session"
                                    );
                                }
                                Err(StoreError::NotFound { .. }) => {
                                    assert!(!mine.contains_key(id), "{tag}/{id} not found");
                                }
                                Err(e) => panic!("{tag}: {e}"),
                            },
                            _ => {
                                for id in ids {
                                    let got = store.get(user, agent, id);
                                    assert_eq!(
                                        got.as_ref()
                                            .map(|r| (r.config.name.as_str(), r.state.cur_iter)),
                                        mine.get(id).map(|n| (tag.as_str(), *n)),
                                        "{tag}/{id}"
                                    );
                                }
                            }
                        }
                        let page =
                            store.list(&ListQuery::new(user, agent).order(Order::CreatedAsc));
                        assert_eq!(page.total, mine.len(), "{tag}");
                        let listed: BTreeMap<&str, i64> = page
                            .sessions
                            .iter()
                            .map(|r| {
                                assert_eq!(r.config.name, tag);
                                (r.id.as_str(), r.state.cur_iter)
                            })
                            .collect();
                        assert_eq!(listed, mine, "{tag}");
                        assert_eq!(store.count(user, agent), mine.len());
                    }
                });
            }
        }
    });

    // Each user's erasure takes only that user's sessions.
    let alice = store.count("alice", "a0") + store.count("alice", "a1");
    let bob = store.count("bob", "a0") + store.count("bob", "a1");
    assert_eq!(store.len(), alice + bob);
    assert_eq!(store.delete_all("alice").unwrap(), alice);
    assert_eq!(store.len(), bob);
    for id in ids {
        assert!(store.get("alice", "a0", id).is_none());
    }
}

const PANIC_MARKER: &str = "deliberate panic in an update closure";

/// Keeps the deliberate panics of these tests out of the output; every other panic is reported
/// as usual.
fn silence_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
            if msg != Some(PANIC_MARKER) {
                default(info);
            }
        }));
    });
}

#[test]
fn a_panicking_update_changes_nothing_and_the_store_keeps_working() {
    const PANICS: usize = 100;
    const WORKERS: i64 = 3;
    const INCREMENTS: i64 = 150;
    silence_deliberate_panics();
    let store = SessionStore::new();
    store
        .create(NewSession::new("u", "a").id("private").name("p"))
        .unwrap();
    store
        .create(NewSession::new("u", "a").id("busy").name("b"))
        .unwrap();

    thread::scope(|s| {
        let store = &store;
        s.spawn(move || {
            for i in 0..PANICS {
                // On a session nobody else writes: exactly unchanged.
                let before = store.get_versioned("u", "a", "private").unwrap();
                let json_before = store.get_json("u", "a", "private").unwrap();
                let result = catch_unwind(AssertUnwindSafe(|| {
                    if i % 2 == 0 {
                        store
                            .update("u", "a", "private", |r| {
                                r.config.name = "poison".into();
                                r.state.cur_iter += 1_000_000;
                                panic!("{}", PANIC_MARKER);
                            })
                            .map(|_| ())
                    } else {
                        store
                            .update_if_version("u", "a", "private", before.version, |r| {
                                r.config.name = "poison".into();
                                panic!("{}", PANIC_MARKER);
                            })
                            .map(|_| ())
                    }
                }));
                assert!(result.is_err(), "the panic must propagate");
                assert_eq!(store.get_versioned("u", "a", "private").unwrap(), before);
                assert_eq!(store.get_json("u", "a", "private").unwrap(), json_before);

                // On a session others are updating: the poisoned change never lands.
                let result = catch_unwind(AssertUnwindSafe(|| {
                    store.update("u", "a", "busy", |r| {
                        r.config.name = "poison".into();
                        r.state.cur_iter += 1_000_000;
                        panic!("{}", PANIC_MARKER);
                    })
                }));
                assert!(result.is_err());
                let busy = store.get("u", "a", "busy").unwrap();
                assert_eq!(busy.config.name, "b");
                assert!(busy.state.cur_iter <= WORKERS * INCREMENTS);
            }
        });
        for _ in 0..WORKERS {
            s.spawn(move || {
                for _ in 0..INCREMENTS {
                    let rec = store
                        .update("u", "a", "busy", |r| r.state.cur_iter += 1)
                        .unwrap();
                    assert_eq!(rec.config.name, "b");
                    let v = store.get_versioned("u", "a", "private").unwrap();
                    assert_eq!(v.record.config.name, "p");
                }
            });
        }
    });

    let busy = store.get("u", "a", "busy").unwrap();
    assert_eq!(busy.state.cur_iter, WORKERS * INCREMENTS);
    assert_eq!(busy.config.name, "b");
    // Still fully usable afterwards, on the same sessions.
    let rec = store
        .update("u", "a", "private", |r| r.state.cur_iter += 1)
        .unwrap();
    assert_eq!((rec.config.name.as_str(), rec.state.cur_iter), ("p", 1));
    assert_eq!(store.delete("u", "a", "busy").unwrap().id, "busy");
    assert_eq!(store.list(&ListQuery::new("u", "a")).total, 1);
    assert_eq!(store.len(), 1);
}

#[test]
fn barrier_started_writers_create_distinct_versions() {
    // Every write gets a version never used before, even when writers start together.
    const THREADS: usize = 6;
    const PER_THREAD: usize = 60;
    let store = SessionStore::new();
    let barrier = Barrier::new(THREADS);
    let versions: Vec<u64> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, barrier) = (&store, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut out = Vec::new();
                    for i in 0..PER_THREAD {
                        let id = format!("t{t}-{i}");
                        store
                            .create(NewSession::new("u", "a").id(id.clone()))
                            .unwrap();
                        out.push(store.get_versioned("u", "a", &id).unwrap().version);
                        let v = store
                            .update_if_version("u", "a", &id, out[out.len() - 1], |r| {
                                r.state.cur_iter = 1;
                            })
                            .unwrap();
                        out.push(v.version);
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let distinct: HashSet<u64> = versions.iter().copied().collect();
    assert_eq!(distinct.len(), versions.len());
    assert_eq!(store.len(), THREADS * PER_THREAD);
}

/// Regression: `delete_all`/`delete_agent` used to unlink a partition from the user map first
/// and only later retire it and journal `del(user, agent, ids)`. In between, a create of the
/// same id made a fresh partition and journaled its `put`, so the journal read `put x`,
/// `del x` and a replay deleted an acknowledged session. They now retire and journal under
/// the map guard, before unlinking.
#[test]
fn durable_recreate_racing_a_bulk_delete_survives_reopen() {
    const ROUNDS: usize = 150;
    const AGENTS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::builder()
        .fsync(agent_sessions::FsyncPolicy::Never) // dropping the store flushes all
        .autosave(None)
        .open(dir.path())
        .unwrap();
    let barrier = Barrier::new(2);
    let agents: Vec<String> = (0..AGENTS).map(|a| format!("a{a}")).collect();
    for k in 0..ROUNDS {
        let user = format!("u{k}");
        for a in &agents {
            store
                .create(NewSession::new(&user, a).id("x").name("old"))
                .unwrap();
        }
        thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                let removed: usize = if k % 2 == 0 {
                    store.delete_all(&user).unwrap()
                } else {
                    agents
                        .iter()
                        .map(|a| store.delete_agent(&user, a).unwrap())
                        .sum()
                };
                assert_eq!(removed, AGENTS);
            });
            s.spawn(|| {
                barrier.wait();
                // Re-create each "x" as soon as the bulk delete lets it in.
                for a in agents.iter().rev() {
                    let created = (0..10_000_000).any(|_| {
                        match store.create(NewSession::new(&user, a).id("x").name("new")) {
                            Ok(_) => true,
                            Err(StoreError::DuplicateId { .. }) => false,
                            Err(e) => panic!("{e}"),
                        }
                    });
                    assert!(created, "{user}/{a}/x never re-created");
                }
            });
        });
    }
    for k in 0..ROUNDS {
        for a in &agents {
            let rec = store.get(&format!("u{k}"), a, "x").unwrap();
            assert_eq!(rec.config.name, "new");
        }
    }
    drop(store); // a clean shutdown: the journal is flushed, and replayed on open
    let reopened = SessionStore::open(dir.path()).unwrap();
    let lost: Vec<String> = (0..ROUNDS)
        .flat_map(|k| agents.iter().map(move |a| (format!("u{k}"), a)))
        .filter(|(u, a)| reopened.get(u, a, "x").is_none())
        .map(|(u, a)| format!("{u}/{a}/x"))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged creates lost on reopen: {:?}",
        lost.len(),
        ROUNDS * AGENTS,
        &lost[..lost.len().min(6)]
    );
    assert_eq!(reopened.len(), ROUNDS * AGENTS);
}
