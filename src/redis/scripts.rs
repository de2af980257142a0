//! The Lua scripts: every operation on sessions, agents and messages is one of them, run with
//! `EVALSHA` (loaded on first use and again after a server restart, by [`redis::Script`]).
//!
//! Every script declares the keys that fix its slot in `KEYS`; all of them carry the user's
//! hash tag. The scripts that work on a set of agents or sessions found while they run
//! (`find_session`, `delete_agent`, `unregister_agent`, `delete_all`) derive those keys from
//! their first declared key, so they share its tag and slot too.
//!
//! Conventions: versions and other large numbers travel as decimal strings (Lua numbers are
//! doubles; every version is below 2^53 and is formatted with `%.0f`, which is exact there);
//! the scripts never compare strings with `<` (Redis's Lua collates by locale), only with
//! `==`, which compares bytes.

use std::sync::LazyLock;

use redis::Script;

/// How many versions a block holds; a user's versions come from blocks reserved from the
/// backend-wide `P:blocks` counter, so that versions are unique in the whole backend and a
/// user erased and re-created never gets an old one. Must match `BLOCK` in [`PRELUDE`].
pub(crate) const VERSION_BLOCK: u64 = 1 << 20;

/// Functions every script may use.
const PRELUDE: &str = r"
local BLOCK = 1048576

-- The next version of the user whose counters are in hash n, or nil when the user needs a
-- new block (block is '' or the base of a block reserved by the caller).
local function next_version(n, block)
  local last = tonumber(redis.call('HGET', n, 'ver') or '0')
  if last == 0 or (last + 1) % BLOCK == 0 then
    if block == '' then return nil end
    last = tonumber(block)
  end
  local v = last + 1
  local s = string.format('%.0f', v)
  redis.call('HSET', n, 'ver', s)
  return s
end

-- A meta value: '<version>|<created lex><updated lex>|<filter fields>'.
local function parse_meta(m)
  local p = string.find(m, '|', 1, true)
  if not p then error('damaged session metadata') end
  return string.sub(m, 1, p - 1), string.sub(m, p + 1, p + 16), string.sub(m, p + 17, p + 32),
    string.sub(m, p + 34)
end

-- The id escaping of keys.rs.
local function esc(s)
  return (string.gsub(s, '[%%{}:]', function(c) return string.format('%%%02X', string.byte(c)) end))
end

-- Deletes every session of escaped agent a under key base b ('P:{U}:'); returns how many.
local function drop_scope(b, a)
  local r = b .. 'r:' .. a
  local ids = redis.call('HKEYS', r)
  for _, id in ipairs(ids) do
    local e = esc(id)
    redis.call('DEL', b .. 'm:' .. a .. ':' .. e, b .. 'i:' .. a .. ':' .. e)
  end
  redis.call('DEL', r, b .. 'v:' .. a, b .. 'c:' .. a, b .. 'u:' .. a)
  return #ids
end

-- The key base 'P:{U}:' of a declared user key ending in a two-letter name.
local function base_of(k) return string.sub(k, 1, -3) end
";

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

/// Inserts a session unless its id is taken.
///
/// KEYS: records, meta, by-created, by-updated, counters, agents-with-sessions.
/// ARGV: id, json, created lex, updated lex, filter fields, block, escaped agent.
/// Returns `{'dup'}`, `{'block'}` or `{'ok', version}`.
pub(crate) static INSERT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'dup'} end
local v = next_version(KEYS[5], ARGV[6])
if not v then return {'block'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], v .. '|' .. ARGV[3] .. ARGV[4] .. '|' .. ARGV[5])
redis.call('ZADD', KEYS[3], 0, ARGV[3] .. ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[4] .. ARGV[1])
redis.call('SADD', KEYS[6], ARGV[7])
return {'ok', v}
",
    )
});

/// Reads a session and its metadata at one instant.
///
/// KEYS: records, meta. ARGV: id. Returns `{}` or `{json, meta}`.
pub(crate) static GET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local j = redis.call('HGET', KEYS[1], ARGV[1])
if not j then return {} end
return {j, redis.call('HGET', KEYS[2], ARGV[1]) or ''}
",
    )
});

/// Replaces a session if it is still at the expected version (compare-and-swap).
///
/// KEYS: records, meta, by-updated, counters.
/// ARGV: id, expected version, json, updated lex, filter fields, block.
/// Returns `{'nf'}`, `{'conflict', version}`, `{'block'}` or `{'ok', version}`.
pub(crate) static REPLACE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local m = redis.call('HGET', KEYS[2], ARGV[1])
if not m then return {'nf'} end
local ver, c, u = parse_meta(m)
if ver ~= ARGV[2] then return {'conflict', ver} end
local v = next_version(KEYS[4], ARGV[6])
if not v then return {'block'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], v .. '|' .. c .. ARGV[4] .. '|' .. ARGV[5])
redis.call('ZREM', KEYS[3], u .. ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[4] .. ARGV[1])
return {'ok', v}
",
    )
});

/// Deletes a session and its history.
///
/// KEYS: records, meta, by-created, by-updated, messages, message ids, agents-with-sessions.
/// ARGV: id, escaped agent. Returns `{}` or `{json}`.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local j = redis.call('HGET', KEYS[1], ARGV[1])
if not j then return {} end
local m = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if m then
  local _, c, u = parse_meta(m)
  redis.call('ZREM', KEYS[3], c .. ARGV[1])
  redis.call('ZREM', KEYS[4], u .. ARGV[1])
end
redis.call('DEL', KEYS[5], KEYS[6])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[7], ARGV[2])
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
end
return {j}
",
    )
});

/// A page of a scope and the number of matches, at one instant.
///
/// KEYS: the index (by-created or by-updated), records, meta.
/// ARGV: '1' for descending, cursor member or '', offset, limit (-1: all), then the JSON of
/// the `source`, `source_schedule_id` and `workspace_id` filters ('' for none).
/// Returns `{total, json...}`.
///
/// Without a filter: `ZCARD` and one `ZRANGE` (by rank, or `BYLEX` from the cursor), then
/// one `HGET` per session of the page. With a filter: every session's metadata is read
/// (the filter fields are kept there, so no record is decoded).
pub(crate) static LIST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local desc = ARGV[1] == '1'
local cur = ARGV[2]
local off = tonumber(ARGV[3])
local lim = tonumber(ARGV[4])
local src, sched, ws = ARGV[5], ARGV[6], ARGV[7]
local ids = {}
local total
if src == '' and sched == '' and ws == '' then
  total = redis.call('ZCARD', KEYS[1])
  if lim ~= 0 then
    local members
    if cur == '' then
      local stop = -1
      if lim > 0 then stop = off + lim - 1 end
      if desc then
        members = redis.call('ZRANGE', KEYS[1], off, stop, 'REV')
      else
        members = redis.call('ZRANGE', KEYS[1], off, stop)
      end
    elseif desc then
      members = redis.call('ZRANGE', KEYS[1], '(' .. cur, '-', 'BYLEX', 'REV', 'LIMIT', off, lim)
    else
      members = redis.call('ZRANGE', KEYS[1], '(' .. cur, '+', 'BYLEX', 'LIMIT', off, lim)
    end
    for i, mem in ipairs(members) do ids[i] = string.sub(mem, 17) end
  end
else
  local all
  if desc then
    all = redis.call('ZRANGE', KEYS[1], 0, -1, 'REV')
  else
    all = redis.call('ZRANGE', KEYS[1], 0, -1)
  end
  -- How many members come first in this order and are not past the cursor.
  local before = 0
  if cur ~= '' then
    if desc then
      before = redis.call('ZLEXCOUNT', KEYS[1], '[' .. cur, '+')
    else
      before = redis.call('ZLEXCOUNT', KEYS[1], '-', '[' .. cur)
    end
  end
  total = 0
  local skipped = 0
  for i, mem in ipairs(all) do
    local id = string.sub(mem, 17)
    local m = redis.call('HGET', KEYS[3], id)
    if not m then return redis.error_reply('damaged index: no metadata for a session') end
    local _, _, _, f = parse_meta(m)
    local a = string.find(f, '\0', 1, true)
    local b = a and string.find(f, '\0', a + 1, true)
    if not b then return redis.error_reply('damaged session filter fields') end
    if (src == '' or string.sub(f, 1, a - 1) == src)
      and (sched == '' or string.sub(f, a + 1, b - 1) == sched)
      and (ws == '' or string.sub(f, b + 1) == ws) then
      total = total + 1
      if i > before then
        if skipped < off then
          skipped = skipped + 1
        elseif lim < 0 or #ids < lim then
          ids[#ids + 1] = id
        end
      end
    end
  end
end
local out = {total}
for i, id in ipairs(ids) do
  local j = redis.call('HGET', KEYS[2], id)
  if not j then return redis.error_reply('damaged index: no record for a session') end
  out[i + 1] = j
end
return out
",
    )
});

/// A session of the user by id: under the named agent first, else every hit under the
/// user's other agents (the caller picks the first agent in byte order).
///
/// KEYS: agents-with-sessions. ARGV: id, escaped agent.
/// Returns `{escaped agent, json, meta, ...}` (one triple per hit).
pub(crate) static FIND: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local b = base_of(KEYS[1])
local function hit(a, out)
  local j = redis.call('HGET', b .. 'r:' .. a, ARGV[1])
  if j then
    out[#out + 1] = a
    out[#out + 1] = j
    out[#out + 1] = redis.call('HGET', b .. 'v:' .. a, ARGV[1]) or ''
  end
end
local out = {}
hit(ARGV[2], out)
if #out > 0 then return out end
for _, a in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if a ~= ARGV[2] then hit(a, out) end
end
return out
",
    )
});

/// Deletes every session of one agent of the user.
///
/// KEYS: agents-with-sessions. ARGV: escaped agent. Returns how many there were.
pub(crate) static DELETE_AGENT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local n = drop_scope(base_of(KEYS[1]), ARGV[1])
redis.call('SREM', KEYS[1], ARGV[1])
return n
",
    )
});

/// Deletes everything of the user: sessions, histories, agents, counters.
///
/// KEYS: agents-with-sessions, agents, agent order, counters. Returns how many sessions
/// there were.
pub(crate) static DELETE_ALL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local b = base_of(KEYS[1])
local total = 0
for _, a in ipairs(redis.call('SMEMBERS', KEYS[1])) do total = total + drop_scope(b, a) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return total
",
    )
});

/// Registers an agent unless its id is taken.
///
/// KEYS: agents, agent order, counters. ARGV: id, json. Returns 1, or 0 for a duplicate.
pub(crate) static REGISTER_AGENT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local s = redis.call('HINCRBY', KEYS[3], 'seq', 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], s, ARGV[1])
return 1
",
    )
});

/// Every registered agent, in registration order.
///
/// KEYS: agents, agent order. Returns `{json...}`.
pub(crate) static AGENTS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local j = redis.call('HGET', KEYS[1], id)
  if j then out[#out + 1] = j end
end
return out
",
    )
});

/// Replaces an agent if it is still exactly what the caller read (compare-and-swap on the
/// bytes).
///
/// KEYS: agents. ARGV: id, json read, new json. Returns 0 (gone), 1 (changed meanwhile) or
/// 2 (replaced).
pub(crate) static REPLACE_AGENT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if cur ~= ARGV[2] then return 1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 2
",
    )
});

/// Unregisters an agent and deletes its sessions.
///
/// KEYS: agents-with-sessions, agents, agent order. ARGV: id, escaped id.
/// Returns `{}` or `{json}`.
pub(crate) static UNREGISTER_AGENT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local j = redis.call('HGET', KEYS[2], ARGV[1])
if not j then return {} end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
drop_scope(base_of(KEYS[1]), ARGV[2])
redis.call('SREM', KEYS[1], ARGV[2])
return {j}
",
    )
});

/// Whether an agent is registered or has sessions.
///
/// KEYS: agents, the agent's records. ARGV: id. Returns 0 or 1.
pub(crate) static AGENT_KNOWN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('HLEN', KEYS[2]) > 0 then return 1 end
return 0
",
    )
});

/// Appends a message, or replaces the last one when it has the same id.
///
/// KEYS: records, messages, message ids. ARGV: session id, message id, json.
/// Returns the message's index, or -1 when there is no such session.
pub(crate) static APPEND_MESSAGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local n = redis.call('LLEN', KEYS[2])
if n > 0 and redis.call('LINDEX', KEYS[3], -1) == ARGV[2] then
  redis.call('LSET', KEYS[2], -1, ARGV[3])
  return n - 1
end
redis.call('RPUSH', KEYS[3], ARGV[2])
return redis.call('RPUSH', KEYS[2], ARGV[3]) - 1
",
    )
});

/// Messages from an index, oldest first.
///
/// KEYS: records, messages. ARGV: session id, first index, last index (inclusive; -1 for
/// none). Returns `{0}` when there is no such session, else `{1, json...}`.
pub(crate) static MESSAGES: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {0} end
local out = {1}
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
if last >= first then
  for _, m in ipairs(redis.call('LRANGE', KEYS[2], first, last)) do out[#out + 1] = m end
end
return out
",
    )
});

/// Messages older than the last one with an id (or from the newest), newest first.
///
/// KEYS: records, messages, message ids. ARGV: session id, '1' if a `before` id is given,
/// the id, limit. Returns `{0}` (no session), `{2}` (no message `before`) or
/// `{1, json...}`.
pub(crate) static MESSAGES_BEFORE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {0} end
local stop
if ARGV[2] == '1' then
  stop = redis.call('LPOS', KEYS[3], ARGV[3], 'RANK', -1)
  if not stop then return {2} end
else
  stop = redis.call('LLEN', KEYS[2])
end
local start = stop - tonumber(ARGV[4])
if start < 0 then start = 0 end
local out = {1}
if stop > start then
  local ms = redis.call('LRANGE', KEYS[2], start, stop - 1)
  for k = #ms, 1, -1 do out[#out + 1] = ms[k] end
end
return out
",
    )
});

/// How many messages a session has.
///
/// KEYS: records, messages. ARGV: session id. Returns the count, or -1 when there is no
/// such session.
pub(crate) static MESSAGE_COUNT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
return redis.call('LLEN', KEYS[2])
",
    )
});
