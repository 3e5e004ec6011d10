//! `dpctl version`: this binary's version and commit, and the database schema's (its last
//! migration and the release that wrote it), saying when they differ and what to do.

use super::{FAILED, Failure, Outcome, TEMPFAIL};
use shared_modules::config::Config;
use shared_modules::db::schema_release::{BINARY_VERSION, check_compatible};

pub async fn run(config: &Config, json: bool) -> Outcome {
    let state = shared_modules::db::schema_state(&config.database.url)
        .await
        .map_err(|e| Failure::new(TEMPFAIL, format!("cannot read the database schema: {e:#}")))?;
    let verdict = if !state.unknown.is_empty() {
        match check_compatible(&state, BINARY_VERSION) {
            Ok(()) => format!(
                "the schema has {} migration(s) of a newer {} of the same RELEASE.MAJOR: this binary runs on it (they only add); upgrade it to match",
                state.unknown.len(),
                state.recorded_version.as_deref().unwrap_or("version")
            ),
            Err(refusal) => refusal.to_string(),
        }
    } else if !state.pending.is_empty() {
        format!(
            "the schema lacks {} migration(s) of this binary ({}): `dpctl db migrate` (serve applies them at start)",
            state.pending.len(),
            state.pending.join(", ")
        )
    } else {
        "the schema is this binary's".to_string()
    };
    let differs = !state.unknown.is_empty() || !state.pending.is_empty();
    if json {
        let out = serde_json::json!({
            "version": build_info::VERSION,
            "commit": build_info::COMMIT,
            "schema": {
                "last_migration": state.last_applied,
                "release": state.recorded_version,
                "binary_last_migration": state.last_known,
                "unknown_migrations": state.unknown,
                "pending_migrations": state.pending,
            },
            "matches": !differs,
            "verdict": verdict,
        });
        println!("{out:#}");
    } else {
        println!("dpctl {}", build_info::LONG_VERSION);
        println!(
            "database schema: {} (release {})",
            state
                .last_applied
                .as_deref()
                .unwrap_or("empty: no migration applied"),
            state.recorded_version.as_deref().unwrap_or("not recorded")
        );
        println!(
            "this binary's schema: {}",
            state.last_known.as_deref().unwrap_or("none")
        );
        println!("{verdict}");
    }
    match check_compatible(&state, BINARY_VERSION) {
        Ok(()) => Ok(()),
        Err(_) => Err(Failure::new(
            FAILED,
            "this binary must not run against this database (see above)",
        )),
    }
}
