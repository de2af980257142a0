//! `agent-sessions import`.

use std::path::PathBuf;

use crate::backend::StoreArgs;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true))]
pub struct Args {
    /// Copy what an AgentScope 2.0.x server keeps in this Redis: every user's agents,
    /// sessions and message histories, unchanged.
    #[arg(long, value_name = "URL", group = "source")]
    from_agentscope_redis: Option<String>,
    /// Copy the sessions of a list-shaped JSON file, `{"sessions": [...], "total": n}`.
    #[arg(long, value_name = "FILE", group = "source")]
    from_json: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: &Args) -> Result<(), String> {
    if !args.store.is_given() {
        return Err(
            "name the store to import into: --data-dir DIR, --redis URL or --redis-cluster URLS"
                .into(),
        );
    }
    let runtime = crate::runtime()?;
    let opened = runtime.block_on(args.store.open())?;
    let result = runtime.block_on(async {
        if let Some(path) = &args.from_json {
            let (added, kept) = crate::serve::insert_new(path, &*opened.backend)
                .await
                .map_err(|e| format!("cannot import {}: {e}", path.display()))?;
            crate::say(&format!(
                "imported {added} sessions from {} ({kept} were there already)",
                path.display()
            ));
            return Ok(());
        }
        match &args.from_agentscope_redis {
            Some(url) => from_agentscope(url, &*opened.backend).await,
            None => {
                Err("name what to import: --from-agentscope-redis URL or --from-json FILE".into())
            }
        }
    });
    drop(runtime);
    opened.close()?;
    result
}

#[cfg(feature = "redis")]
async fn from_agentscope(
    url: &str,
    dest: &dyn agent_sessions::SessionBackend,
) -> Result<(), String> {
    use agent_sessions::import::{import_agentscope_redis, ImportOptions};
    let report = import_agentscope_redis(url, dest, &ImportOptions::default())
        .await
        .map_err(|e| format!("cannot import from {url}: {e}"))?;
    crate::say(report.to_string().trim_end());
    if report.is_clean() {
        Ok(())
    } else {
        Err(
            "the import finished with the issues listed above; what they name was not \
             imported (fix it at the source and run the import again: what is already \
             imported is skipped)"
                .into(),
        )
    }
}

#[cfg(not(feature = "redis"))]
#[allow(clippy::unused_async)] // async like the Redis one it stands in for
async fn from_agentscope(_: &str, _: &dyn agent_sessions::SessionBackend) -> Result<(), String> {
    Err(
        "this agent-sessions was built without Redis: rebuild it with \
         `--features server,redis`"
            .into(),
    )
}
