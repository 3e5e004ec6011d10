//! `dpctl cleanup [--dry-run]`: the retention and tmp cleanup serve runs periodically, now.

use super::{Outcome, conn};
use shared_modules::config::Config;

pub async fn run(config: &Config, dry_run: bool) -> Outcome {
    let mut c = conn(config).await?;
    let removals = shared_modules::retention::cleanup(&mut c, config, dry_run)
        .await
        .map_err(|e| super::Failure::new(super::FAILED, format!("cleanup: {e}")))?;
    let (each, all) = if dry_run {
        ("would remove", "would be removed")
    } else {
        ("removed", "removed")
    };
    for r in &removals {
        let job = r.job_id.map(|id| format!("job {id}: ")).unwrap_or_default();
        println!("{each} {} ({job}{})", r.path.display(), r.why);
    }
    let plural = if removals.len() == 1 { "y" } else { "ies" };
    println!("{} director{plural} {all}", removals.len());
    Ok(())
}
