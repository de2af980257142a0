//! Fuzz target: the list cursor decoder (`Cursor::from_str`) and its round trip. Under `afl-fuzz` a
//! persistent loop; run alone, it reads one input from standard input (`scripts/fuzz.sh repro
//! cursor FILE`).

fn main() {
    agent_sessions_fuzz::warm_up("cursor");
    afl::fuzz!(|data: &[u8]| agent_sessions_fuzz::cursor(data));
}
