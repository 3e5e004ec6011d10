//! `hydrastor/system_report`: the daily system report of a grid. See README.md.

pub mod parse;
mod store;

use crate::hydrastor::{grid_zone, text};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use parse::SystemReport;
use serde_json::json;
use shared_modules::jobs::{JobContext, JobFailure, JobHandler};
use std::path::Path;

pub struct SystemReportModule;

/// A report read from a stored mail, with its grid and time settled.
#[derive(Debug, serde::Serialize)]
pub struct Read {
    pub source: String,
    pub grid_name: String,
    pub report_time: DateTime<Utc>,
    pub report: SystemReport,
}

/// Finds and parses the report in the delivery `dir`. `subject_grid` (the job's group) names
/// the grid when the report does not. Errors name the file and line.
pub fn read(dir: &Path, subject_grid: &str) -> Result<Read, String> {
    let found = text::find(dir, "system report", parse::looks_like_report)?;
    let report =
        parse::parse(&found.text, grid_zone()).map_err(|e| format!("{}: {e}", found.source))?;
    let grid_name = report
        .grid_name
        .clone()
        .unwrap_or_else(|| subject_grid.to_string());
    let report_time = report
        .report_time
        .ok_or_else(|| format!("{}: the report has no `Generated:` time", found.source))?;
    Ok(Read {
        source: found.source,
        grid_name,
        report_time,
        report,
    })
}

impl JobHandler for SystemReportModule {
    async fn run(
        &self,
        ctx: &JobContext,
        conn: &mut AsyncPgConnection,
    ) -> Result<serde_json::Value, JobFailure> {
        let job = &ctx.job;
        let dir = ctx.files()?;
        let read = read(dir, &job.job_group).map_err(JobFailure::permanent)?;
        let complete = store::Complete {
            customer: &job.customer,
            grid_name: &read.grid_name,
            report_time: read.report_time,
            report: &read.report,
            job_id: job.id,
        };
        let rows = store::store(conn, &complete).await?;
        Ok(json!({
            "source": read.source,
            "grid": read.grid_name,
            "report_time": read.report_time,
            "nodes": read.report.nodes.len(),
            "filesystems": read.report.filesystems.len(),
            "unknown_sections": read.report.extra.keys().collect::<Vec<_>>(),
            "rows": rows,
        }))
    }
}
