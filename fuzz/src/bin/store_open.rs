//! Fuzz target: the store directory loaders: one file replaced, then the directory opened. Under
//! `afl-fuzz` a persistent loop; run alone, it reads one input from standard input
//! (`scripts/fuzz.sh repro store_open FILE`). With `FUZZ_WRITE_SEEDS=DIR`, it writes its seeds
//! (the files of a directory the store wrote) into `DIR` instead.

fn main() {
    if let Some(dir) = std::env::var_os("FUZZ_WRITE_SEEDS") {
        agent_sessions_fuzz::write_store_seeds(std::path::Path::new(&dir)).expect("seeds written");
        return;
    }
    agent_sessions_fuzz::warm_up("store_open");
    afl::fuzz!(|data: &[u8]| agent_sessions_fuzz::store_open(data));
}
