//! `hydrastor/alert`: alert mails, one or more alerts each. See README.md.

pub mod parse;
mod store;

use crate::hydrastor::{grid_zone, text};
use diesel_async::AsyncPgConnection;
use parse::Alert;
use serde_json::json;
use shared_modules::jobs::{JobContext, JobFailure, JobHandler};
use std::path::Path;

pub struct AlertModule;

#[derive(Debug, serde::Serialize)]
pub struct Read {
    pub source: String,
    pub alerts: Vec<Alert>,
}

/// Finds and parses the alerts in the delivery `dir`. Errors name the file and line.
pub fn read(dir: &Path) -> Result<Read, String> {
    let found = text::find(dir, "alert", parse::looks_like_alert)?;
    let alerts =
        parse::parse(&found.text, grid_zone()).map_err(|e| format!("{}: {e}", found.source))?;
    Ok(Read {
        source: found.source,
        alerts,
    })
}

impl JobHandler for AlertModule {
    async fn run(
        &self,
        ctx: &JobContext,
        conn: &mut AsyncPgConnection,
    ) -> Result<serde_json::Value, JobFailure> {
        let job = &ctx.job;
        let dir = ctx.files()?;
        let read = read(dir).map_err(JobFailure::permanent)?;
        let written =
            store::store(conn, &job.customer, &read.alerts, job.id, job.created_at).await?;
        Ok(json!({
            "source": read.source,
            "alerts": read.alerts.len(),
            "rows": { "hydrastor_alerts": written },
        }))
    }
}
