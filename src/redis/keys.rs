//! The key layout: names of every key the backend writes, id escaping, and the lexicographic
//! members of the ordered indexes.
//!
//! `P` is the key prefix (percent-escaped like an id), `U` the escaped user id, `A` an
//! escaped agent id, `I` an escaped session id. Every key of a user carries the hash tag
//! `{U}`, so every key of a user is in one Cluster slot:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:{U}:r:A` | HASH | session id -> the record's compact JSON (the exact bytes the in-memory store caches) |
//! | `P:{U}:v:A` | HASH | session id -> `<version>\|<created lex><updated lex>\|<filter fields>` |
//! | `P:{U}:c:A` | ZSET | every score 0; member `<created lex><id>` |
//! | `P:{U}:u:A` | ZSET | every score 0; member `<updated lex><id>` |
//! | `P:{U}:m:A:I` | LIST | the session's messages (compact JSON), oldest first |
//! | `P:{U}:i:A:I` | LIST | their ids, in the same order |
//! | `P:{U}:sa` | SET | `A` of every agent the user has sessions with |
//! | `P:{U}:ag` | HASH | agent id -> registered agent's compact JSON |
//! | `P:{U}:ao` | ZSET | agent id scored by registration sequence |
//! | `P:{U}:n` | HASH | `ver`: the last version handed out; `seq`: the last agent sequence |
//! | `P:blocks` | STRING | the backend-wide counter of version blocks (no hash tag) |
//!
//! A *lex* is 16 lowercase hex digits of `micros as u64 ^ 1 << 63`, so that byte order of
//! members is (timestamp, id) order, negative timestamps included.
//!
//! Escaping: `%`, `{`, `}` and `:` become `%25`, `%7B`, `%7D`, `%3A` in every id and in the
//! prefix. No escaped id contains a brace, so the tag `{U}` is exactly the user's and no id
//! can move a key to another slot; no escaped id contains `:`, so no two (agent, session)
//! pairs name the same key.

use std::fmt::Write as _;

/// The bytes escaped in ids and the prefix.
const ESCAPED: [u8; 4] = [b'%', b'{', b'}', b':'];

/// `s` with `%`, `{`, `}` and `:` percent-escaped (upper-case hex).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match u8::try_from(c) {
            Ok(b) if ESCAPED.contains(&b) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
            _ => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`]; `None` for text that [`escape`] did not make.
pub(crate) fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The 16 hex digits that order timestamps as bytes: `micros as u64 ^ 1 << 63`.
pub(crate) fn lex(micros: i64) -> String {
    format!("{:016x}", micros.cast_unsigned() ^ (1 << 63))
}

/// The member of an ordered index for a session with this timestamp and id.
pub(crate) fn member(micros: i64, id: &str) -> String {
    let mut m = lex(micros);
    m.push_str(id);
    m
}

/// The names of one user's keys.
#[derive(Clone, Debug)]
pub(crate) struct UserKeys {
    /// `P:{U}:`
    base: String,
}

impl UserKeys {
    /// The keys of `user` under the escaped prefix `prefix`.
    pub(crate) fn new(prefix: &str, user: &str) -> Self {
        Self {
            base: format!("{prefix}:{{{}}}:", escape(user)),
        }
    }

    fn key(&self, name: &str) -> String {
        let mut k = String::with_capacity(self.base.len() + name.len());
        k.push_str(&self.base);
        k.push_str(name);
        k
    }

    /// `P:{U}:sa`: the escaped ids of the agents the user has sessions with. The scripts
    /// that derive keys from it take `P:{U}:` from this name.
    pub(crate) fn agents_with_sessions(&self) -> String {
        self.key("sa")
    }

    /// `P:{U}:ag`: registered agents.
    pub(crate) fn agents(&self) -> String {
        self.key("ag")
    }

    /// `P:{U}:ao`: registration order.
    pub(crate) fn agent_order(&self) -> String {
        self.key("ao")
    }

    /// `P:{U}:n`: counters.
    pub(crate) fn counters(&self) -> String {
        self.key("n")
    }

    /// The keys of the user's sessions with `agent`.
    pub(crate) fn scope(&self, agent: &str) -> ScopeKeys<'_> {
        ScopeKeys {
            user: self,
            agent: escape(agent),
        }
    }
}

/// The names of one (user, agent)'s keys.
#[derive(Clone, Debug)]
pub(crate) struct ScopeKeys<'a> {
    user: &'a UserKeys,
    /// The escaped agent id: the member of `P:{U}:sa`.
    pub(crate) agent: String,
}

impl ScopeKeys<'_> {
    fn key(&self, kind: &str) -> String {
        format!("{}{kind}:{}", self.user.base, self.agent)
    }

    /// `P:{U}:r:A`: records.
    pub(crate) fn records(&self) -> String {
        self.key("r")
    }

    /// `P:{U}:v:A`: versions, timestamps and filter fields.
    pub(crate) fn meta(&self) -> String {
        self.key("v")
    }

    /// `P:{U}:c:A`: the `created_at` index.
    pub(crate) fn by_created(&self) -> String {
        self.key("c")
    }

    /// `P:{U}:u:A`: the `updated_at` index.
    pub(crate) fn by_updated(&self) -> String {
        self.key("u")
    }

    /// `P:{U}:m:A:I`: a session's messages.
    pub(crate) fn messages(&self, session: &str) -> String {
        format!("{}:{}", self.key("m"), escape(session))
    }

    /// `P:{U}:i:A:I`: a session's message ids.
    pub(crate) fn message_ids(&self, session: &str) -> String {
        format!("{}:{}", self.key("i"), escape(session))
    }
}

/// `P:blocks`: the backend-wide counter of version blocks.
pub(crate) fn blocks_key(prefix: &str) -> String {
    format!("{prefix}:blocks")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Redis Cluster's slot of a key: CRC16/XMODEM of its hash tag (or the whole key) mod
    /// 16384.
    fn slot(key: &str) -> u16 {
        let bytes = key.as_bytes();
        let tagged = bytes.iter().position(|&b| b == b'{').and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        });
        let mut crc: u16 = 0;
        for &b in tagged.unwrap_or(bytes) {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 == 0 {
                    crc << 1
                } else {
                    (crc << 1) ^ 0x1021
                };
            }
        }
        crc % 16384
    }

    fn every_key(prefix: &str, user: &str, agent: &str, session: &str) -> Vec<String> {
        let u = UserKeys::new(&escape(prefix), user);
        let s = u.scope(agent);
        vec![
            s.records(),
            s.meta(),
            s.by_created(),
            s.by_updated(),
            s.messages(session),
            s.message_ids(session),
            u.agents_with_sessions(),
            u.agents(),
            u.agent_order(),
            u.counters(),
        ]
    }

    #[test]
    fn the_slot_function_agrees_with_redis() {
        // Known values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(slot("123456789"), 0x31C3);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
        assert_ne!(slot("{}a"), slot("{}b"));
        for key in ["foo", "a{b}c", "{user1000}.following", "x{}y"] {
            assert_eq!(
                redis::cluster_routing::Slot::new(slot(key)),
                Some(redis::cluster_routing::Slot::for_key(key)),
                "{key}"
            );
        }
    }

    #[test]
    fn escaping_is_reversible_and_leaves_no_special_byte() {
        for id in [
            "plain",
            "a{b}c",
            "a|b",
            "50%",
            "a:b",
            "%7B",
            "ünï😀",
            "{}",
            "",
        ] {
            let e = escape(id);
            assert!(!e.contains(['{', '}', ':']), "{e}");
            assert_eq!(unescape(&e).as_deref(), Some(id));
        }
        assert_eq!(escape("a{b}:c%"), "a%7Bb%7D%3Ac%25");
        assert_eq!(unescape("%zz"), None);
        assert_eq!(unescape("%2"), None);
    }

    #[test]
    fn tricky_ids_map_to_distinct_keys_in_one_slot_per_user() {
        let ids = [
            "a", "a}", "{a", "a|b", "a%7Cb", "a:b", "a%3Ab", "%", "é", "😀", "a b",
        ];
        let mut seen = std::collections::HashSet::new();
        for user in ids {
            for agent in ids {
                let keys = every_key("as", user, agent, "s:1}");
                let s = slot(&keys[0]);
                for k in &keys {
                    assert_eq!(slot(k), s, "{k}");
                }
                // Scope keys are distinct for every (user, agent).
                assert!(seen.insert(keys[0].clone()), "{}", keys[0]);
                assert!(seen.insert(keys[4].clone()), "{}", keys[4]);
            }
        }
        // (agent "a:b", session "c") and (agent "a", session "b:c") are different keys.
        let u = UserKeys::new("as", "u");
        assert_ne!(u.scope("a:b").messages("c"), u.scope("a").messages("b:c"));
        // A prefix with braces cannot take over the tag.
        let keys = every_key("p{x}", "u", "a", "s");
        assert!(keys.iter().all(|k| slot(k) == slot("{u}")));
        assert!(!blocks_key(&escape("p{x}")).contains('{'));
    }

    proptest! {
        #[test]
        fn one_user_is_one_slot(user in "\\PC{1,12}", a1 in "\\PC{1,8}", a2 in "\\PC{1,8}", s in "\\PC{1,8}") {
            let k1 = every_key("as", &user, &a1, &s);
            let k2 = every_key("as", &user, &a2, &s);
            let first = slot(&k1[0]);
            for k in k1.iter().chain(&k2) {
                prop_assert_eq!(slot(k), first);
            }
            prop_assert_eq!(unescape(&escape(&user)), Some(user.clone()));
        }

        #[test]
        fn distinct_scopes_have_distinct_keys(u1 in "[a-c{}:%|]{1,4}", u2 in "[a-c{}:%|]{1,4}", a1 in "[a-c{}:%|]{1,4}", a2 in "[a-c{}:%|]{1,4}") {
            let k1 = UserKeys::new("as", &u1).scope(&a1).records();
            let k2 = UserKeys::new("as", &u2).scope(&a2).records();
            prop_assert_eq!(k1 == k2, (u1, a1) == (u2, a2));
        }

        #[test]
        fn member_order_is_timestamp_then_id(m1 in any::<i64>(), m2 in any::<i64>(), i1 in "\\PC{0,6}", i2 in "\\PC{0,6}") {
            let a = member(m1, &i1);
            let b = member(m2, &i2);
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), (m1, i1.as_bytes()).cmp(&(m2, i2.as_bytes())));
        }

        #[test]
        fn close_timestamps_order_as_numbers(m in -3i64..3, d in 0i64..3) {
            prop_assert!(lex(m) <= lex(m + d));
        }
    }

    #[test]
    fn lex_covers_the_extremes() {
        assert_eq!(lex(i64::MIN), "0000000000000000");
        assert_eq!(lex(-1), "7fffffffffffffff");
        assert_eq!(lex(0), "8000000000000000");
        assert_eq!(lex(i64::MAX), "ffffffffffffffff");
        assert!(member(-1, "z") < member(0, ""));
    }
}
