//! Appending to a record's `state.context` by splicing its stored JSON: the new version's
//! bytes are the old ones with the new `updated_at` and the new messages' encodings put in
//! place, which are the bytes encoding the new record would give (a property test in
//! `tests/state_save.rs` checks this against the plain encoding on random records).

use crate::encode::Marks;

/// `old` (a record's compact JSON, with its `marks`) with `updated_at`'s value replaced by
/// `updated_at` (a JSON string, quotes included) and `messages` (each a message's compact
/// JSON) appended to `state.context`; and the new bytes' marks (`None` past 4 GiB).
pub(crate) fn append_context(
    old: &[u8],
    marks: Marks,
    updated_at: &[u8],
    messages: &[Vec<u8>],
) -> (Vec<u8>, Option<Marks>) {
    let (ua_start, ua_end) = (marks.updated_at.0 as usize, marks.updated_at.1 as usize);
    let (ctx_start, ctx_end) = (marks.context.0 as usize, marks.context.1 as usize);
    // `updated_at` comes before `state` in every record (the second key), so the spans are
    // in this order.
    debug_assert!(ua_start < ua_end && ua_end <= ctx_start && ctx_start <= ctx_end);
    let added: usize = messages.iter().map(|m| m.len() + 1).sum();
    let mut out = Vec::with_capacity(old.len() - (ua_end - ua_start) + updated_at.len() + added);
    out.extend_from_slice(&old[..ua_start]);
    out.extend_from_slice(updated_at);
    out.extend_from_slice(&old[ua_end..ctx_end]);
    let mut empty = ctx_start == ctx_end;
    for m in messages {
        if !empty {
            out.push(b',');
        }
        out.extend_from_slice(m);
        empty = false;
    }
    let new_ctx_end = out.len();
    out.extend_from_slice(&old[ctx_end..]);
    let shift = |at: usize| at + updated_at.len() - (ua_end - ua_start);
    let span = |a: usize, b: usize| Some((u32::try_from(a).ok()?, u32::try_from(b).ok()?));
    let marks = (|| {
        Some(Marks {
            updated_at: span(ua_start, ua_start + updated_at.len())?,
            context: span(shift(ctx_start), new_ctx_end)?,
        })
    })();
    (out, marks)
}
