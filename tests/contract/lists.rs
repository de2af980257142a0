//! Lists: the reference's answer, the four orders, paging by limit and offset, filters, and
//! cursors.

use agent_sessions::model::SessionSource;
use agent_sessions::{Cursor, ListQuery, ListSessionsResponse, NewSession, Order, SessionBackend};
use serde_json::Value;

use super::{assert_json_matches, fixture, ids, normalise_record, record_at, Check};

pub async fn list_matches_the_reference_answer(b: &dyn SessionBackend) {
    let b = Check(b);
    let records = fixture("records.json");
    // Insert in an order unlike the answer's, to prove the list sorts.
    let mut all: Vec<Value> = records.as_array().unwrap().clone();
    all.reverse();
    all.swap(0, 3);
    for r in all {
        b.insert(serde_json::from_value(r).unwrap()).await.unwrap();
    }
    let expected = fixture("list_user-1_agent-a.json");
    let mut expected_norm = expected.clone();
    for s in expected_norm["sessions"].as_array_mut().unwrap() {
        *s = normalise_record(s.take());
    }
    let q = ListQuery::new("user-1", "agent-a");
    assert_eq!(
        serde_json::to_value(b.list(&q).await).unwrap(),
        expected_norm
    );
    let from_json: Value = serde_json::from_slice(&b.list_json(&q).await).unwrap();
    assert_eq!(from_json, expected_norm);
    assert_json_matches(b, &q).await;
}

pub async fn list_orders_with_ties_broken_by_id(b: &dyn SessionBackend) {
    let b = Check(b);
    // created: s1 < s2 = s3 < s4 ; updated: s4 < s1 < s3 = s2
    for (id, c, u) in [
        ("s3", 20, 30),
        ("s1", 10, 25),
        ("s4", 40, 5),
        ("s2", 20, 30),
    ] {
        b.insert(record_at("u", "a", id, c * 1_000_000, u * 1_000_000))
            .await
            .unwrap();
    }
    let list = |o: Order| async move { ids(&b.list(&ListQuery::new("u", "a").order(o)).await) };
    assert_eq!(list(Order::CreatedAsc).await, ["s1", "s2", "s3", "s4"]);
    assert_eq!(list(Order::CreatedDesc).await, ["s4", "s3", "s2", "s1"]);
    assert_eq!(list(Order::UpdatedAsc).await, ["s4", "s1", "s2", "s3"]);
    assert_eq!(list(Order::UpdatedDesc).await, ["s3", "s2", "s1", "s4"]);
    assert_eq!(
        ids(&b.list(&ListQuery::new("u", "a")).await),
        list(Order::CreatedDesc).await
    );
    for o in Order::ALL {
        assert_json_matches(b, &ListQuery::new("u", "a").order(o).limit(2).offset(1)).await;
    }
    // One more, created and updated before 1970: first in the ascending orders.
    b.insert(record_at("u", "a", "s0", -5_000_000, -7_000_000))
        .await
        .unwrap();
    assert_eq!(
        list(Order::CreatedAsc).await,
        ["s0", "s1", "s2", "s3", "s4"]
    );
    assert_eq!(
        list(Order::CreatedDesc).await,
        ["s4", "s3", "s2", "s1", "s0"]
    );
    assert_eq!(
        list(Order::UpdatedAsc).await,
        ["s0", "s4", "s1", "s2", "s3"]
    );
    assert_eq!(
        list(Order::UpdatedDesc).await,
        ["s3", "s2", "s1", "s4", "s0"]
    );
    for o in Order::ALL {
        let page = b
            .list(&ListQuery::new("u", "a").order(o).limit(2).offset(1))
            .await;
        assert_eq!(page.total, 5);
        assert_eq!(page.sessions.len(), 2);
    }
}

pub async fn list_pages_by_limit_and_offset_with_total_before_paging(b: &dyn SessionBackend) {
    let b = Check(b);
    for i in 0..10 {
        b.insert(record_at("u", "a", &format!("s{i}"), i * 1000, i * 1000))
            .await
            .unwrap();
    }
    let q = || ListQuery::new("u", "a").order(Order::CreatedAsc);
    let all = b.list(&q()).await;
    assert_eq!(all.total, 10);
    assert_eq!(all.sessions.len(), 10, "no limit means all");
    let page = b.list(&q().limit(3).offset(4)).await;
    assert_eq!(ids(&page), ["s4", "s5", "s6"]);
    assert_eq!(page.total, 10);
    assert_eq!(b.list(&q().limit(3).offset(9)).await.sessions.len(), 1);
    let past = b.list(&q().offset(50)).await;
    assert!(past.sessions.is_empty());
    assert_eq!(past.total, 10);
    let zero = b.list(&q().limit(0)).await;
    assert!(zero.sessions.is_empty());
    assert_eq!(zero.total, 10);
    let huge = b.list(&q().limit(usize::MAX).offset(usize::MAX)).await;
    assert!(huge.sessions.is_empty());
    assert_eq!(huge.total, 10);
    assert_json_matches(b, &q().limit(3).offset(4)).await;
    assert_json_matches(b, &q().limit(0)).await;
}

pub async fn list_filters_count_only_matching(b: &dyn SessionBackend) {
    let b = Check(b);
    // The same checks with a plain workspace id and with one that needs escaping (a NUL, a
    // quote, a non-ASCII letter), each on a user of its own.
    for (u, odd) in [("u", "odd"), ("w", "odd\0\"é")] {
        for i in 0..12 {
            let mut new = NewSession::new(u, "a")
                .id(format!("s{i:02}"))
                .workspace_id(if i % 2 == 0 { "even" } else { odd });
            if i % 3 == 0 {
                new = new
                    .source(SessionSource::Schedule)
                    .source_schedule_id(format!("sched-{}", i % 2));
            }
            b.create(new).await.unwrap();
        }
        let q = || ListQuery::new(u, "a").order(Order::CreatedAsc);
        let sched = b.list(&q().source(SessionSource::Schedule)).await;
        assert_eq!(sched.total, 4);
        assert!(sched
            .sessions
            .iter()
            .all(|s| s.source == SessionSource::Schedule));
        let even = b.list(&q().workspace_id("even").limit(2).offset(1)).await;
        assert_eq!(ids(&even), ["s02", "s04"]);
        assert_eq!(even.total, 6);
        assert_eq!(even.sessions.len(), 2);
        assert!(even
            .sessions
            .iter()
            .all(|s| s.config.workspace_id == "even"));
        let both = b
            .list(&q().source_schedule_id("sched-0").workspace_id("even"))
            .await;
        assert_eq!(ids(&both), ["s00", "s06"]);
        assert_eq!(both.total, 2);
        let user = b
            .list(&q().source(SessionSource::User).workspace_id(odd))
            .await;
        assert_eq!(user.total, 4); // odd: 1,3,5,7,9,11 minus schedule 3,9
        assert_eq!(
            b.list(&q().source(SessionSource::from("channel")))
                .await
                .total,
            0
        );
        assert_json_matches(b, &q().workspace_id("even").limit(2).offset(1)).await;

        // A filter with a cursor: the page starts past it, the total counts every match.
        let c = Cursor::at(Order::CreatedDesc, 0, "zzz");
        let page = b.list(&q().workspace_id("even").cursor(c)).await;
        assert_eq!(page.total, 6);
        assert!(
            page.sessions.is_empty(),
            "every session is newer than the cursor"
        );
        let first = b
            .list(&ListQuery::new(u, "a").workspace_id("even").limit(2))
            .await;
        assert_eq!(ids(&first), ["s10", "s08"]);
        let next = ListQuery::new(u, "a")
            .workspace_id("even")
            .limit(2)
            .next_page(&first)
            .unwrap();
        let second = b.list(&next).await;
        assert_eq!(ids(&second), ["s06", "s04"]);
        assert_eq!(second.total, 6);
        let skip = b.list(&next.offset(1)).await;
        assert_eq!(ids(&skip), ["s04", "s02"]);
    }
}

pub async fn cursor_pages_stay_correct_under_inserts(b: &dyn SessionBackend) {
    let b = Check(b);
    for i in 0..10 {
        b.insert(record_at("u", "a", &format!("s{i:02}"), 100 + i, 100 + i))
            .await
            .unwrap();
    }
    let mut q = ListQuery::new("u", "a").limit(3);
    let mut seen = Vec::new();
    let mut round = 0;
    loop {
        let page = b.list(&q).await;
        assert_eq!(page.total, b.count("u", "a").await);
        seen.extend(ids(&page));
        // Others insert newer sessions (before the cursor) and an old one (after it).
        b.insert(record_at(
            "u",
            "a",
            &format!("new{round}"),
            10_000 + round,
            0,
        ))
        .await
        .unwrap();
        if round == 1 {
            b.insert(record_at("u", "a", "old", 1, 1)).await.unwrap();
        }
        round += 1;
        match q.next_page(&page) {
            Some(next) => q = next,
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..10).rev().map(|i| format!("s{i:02}")).collect();
    expected.push("old".into());
    assert_eq!(seen, expected, "no session shown twice or skipped");

    // A cursor survives its text form, and for an ascending order pages the other way.
    let first = b
        .list(&ListQuery::new("u", "a").order(Order::CreatedAsc).limit(2))
        .await;
    let c = Cursor::after(first.sessions.last().unwrap(), Order::CreatedAsc);
    let c: Cursor = c.to_string().parse().unwrap();
    let next = b
        .list(&ListQuery::new("u", "a").limit(2).cursor(c.clone()))
        .await;
    assert_eq!(ids(&next), ["s01", "s02"]);
    assert_json_matches(b, &ListQuery::new("u", "a").limit(2).cursor(c)).await;
    // An updated_* cursor.
    let up = b
        .list(&ListQuery::new("u", "a").order(Order::UpdatedAsc).limit(2))
        .await;
    let c = Cursor::after(up.sessions.last().unwrap(), Order::UpdatedAsc);
    let rest = b.list(&ListQuery::new("u", "a").cursor(c)).await;
    assert_eq!(rest.sessions.len() + 2, rest.total);
}

pub async fn unknown_scopes_list_empty(b: &dyn SessionBackend) {
    let b = Check(b);
    let page = b.list(&ListQuery::new("nobody", "nothing").limit(5)).await;
    assert_eq!(page, ListSessionsResponse::default());
    assert_eq!(
        b.list_json(&ListQuery::new("nobody", "nothing")).await,
        br#"{"sessions":[],"total":0}"#
    );
}
