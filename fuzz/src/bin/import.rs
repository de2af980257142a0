//! Fuzz target: `SessionStore::import_json`. Under `afl-fuzz` a persistent loop; run alone, it
//! reads one input from standard input (`scripts/fuzz.sh repro import FILE`).

fn main() {
    agent_sessions_fuzz::warm_up("import");
    afl::fuzz!(|data: &[u8]| agent_sessions_fuzz::import(data));
}
