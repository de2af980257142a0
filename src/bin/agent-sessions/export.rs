//! `agent-sessions export`.

use std::path::PathBuf;

use agent_sessions::SessionStore;

#[derive(clap::Args)]
pub struct Args {
    /// The directory store to read (it must not be open elsewhere).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The file to write, `{"sessions": [...], "total": n}` (replaced atomically).
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

pub fn run(args: &Args) -> Result<(), String> {
    let store = SessionStore::builder()
        .autosave(None)
        .open(&args.data_dir)
        .map_err(|e| format!("cannot open {}: {e}", args.data_dir.display()))?;
    let n = store
        .export_json(&args.to)
        .map_err(|e| format!("cannot export to {}: {e}", args.to.display()))?;
    store
        .close()
        .map_err(|e| format!("cannot close the store: {e}"))?;
    crate::say(&format!("exported {n} sessions to {}", args.to.display()));
    Ok(())
}
