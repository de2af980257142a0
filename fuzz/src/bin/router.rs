//! Fuzz target: the router and its extractors, one request over a fresh in-memory store. Under
//! `afl-fuzz` a persistent loop; run alone, it reads one input from standard input
//! (`scripts/fuzz.sh repro router FILE`).

fn main() {
    agent_sessions_fuzz::warm_up("router");
    afl::fuzz!(|data: &[u8]| agent_sessions_fuzz::router(data));
}
