//! Fuzz target: the HTTP body decoder (`server::json`). Under `afl-fuzz` a persistent loop; run
//! alone, it reads one input from standard input (`scripts/fuzz.sh repro json FILE`).

fn main() {
    agent_sessions_fuzz::warm_up("json");
    afl::fuzz!(|data: &[u8]| agent_sessions_fuzz::json(data));
}
