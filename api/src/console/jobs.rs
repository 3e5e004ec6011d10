//! Jobs: the list (filters, paging, refreshing by itself) and one job (its trail as a
//! timeline, its files, result and error, retry and cancel).

use super::layout::{age, page, respond, state_badge, time};
use super::session::SignedIn;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use shared_modules::jobs::{
    Job, JobEvent, JobFilter, JobState, Refused, cancel_job, events_of, find_job, list_jobs,
    retry_job,
};
use std::path::{Path, PathBuf};

const PAGE: i64 = 50;

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    state: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    category: String,
    #[serde(default, rename = "type")]
    job_type: String,
    /// A day (`2026-12-01`), from its start.
    #[serde(default)]
    since: String,
    /// A day, to its end.
    #[serde(default)]
    until: String,
    before: Option<i64>,
}

fn day(text: &str, end: bool) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let at = if end {
        date.and_hms_opt(23, 59, 59)?
    } else {
        date.and_hms_opt(0, 0, 0)?
    };
    Some(at.and_utc())
}

fn some(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

impl Filters {
    fn to_filter(&self) -> Result<JobFilter, String> {
        let state = match self.state.trim() {
            "" => None,
            s => Some(JobState::parse(s).ok_or_else(|| format!("unknown state `{s}`"))?),
        };
        Ok(JobFilter {
            state,
            customer: some(&self.customer),
            category: some(&self.category),
            job_type: some(&self.job_type),
            since: day(&self.since, false),
            until: day(&self.until, true),
            before_id: self.before,
            limit: PAGE,
        })
    }

    /// This query string with `before` set (or dropped).
    fn with_before(&self, before: Option<i64>) -> String {
        let mut pairs = vec![
            ("state", self.state.clone()),
            ("customer", self.customer.clone()),
            ("category", self.category.clone()),
            ("type", self.job_type.clone()),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
        ];
        if let Some(before) = before {
            pairs.push(("before", before.to_string()));
        }
        pairs.retain(|(_, v)| !v.is_empty());
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

fn rows(jobs: &[Job]) -> Markup {
    html! {
        @for job in jobs {
            tr {
                td { a href={ "/jobs/" (job.id) } { (job.id) } }
                td { (state_badge(job.state.as_str())) }
                td { (job.source) }
                td { (job.customer) }
                td { (job.category) "/" (job.job_type) }
                td { (job.job_group) }
                td { time datetime=(job.created_at.to_rfc3339()) { (time(job.created_at)) } }
                td.num { @if let (Some(s), Some(f)) = (job.started_at, job.finished_at) { (age((f - s).as_seconds_f64())) } }
                td.error { @if let Some(e) = &job.error { (e.chars().take(120).collect::<String>()) } }
            }
        }
        @if jobs.is_empty() {
            tr { td colspan="9" { "No jobs match." } }
        }
    }
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: SignedIn,
    filters: web::Query<Filters>,
) -> HttpResponse {
    let filters = filters.into_inner();
    let filter = match filters.to_filter() {
        // A customer's session lists its own customer's jobs, whatever the form says.
        Ok(filter) => JobFilter {
            customer: signed
                .0
                .principal
                .customer()
                .map(str::to_string)
                .or(filter.customer),
            ..filter
        },
        Err(e) => {
            return HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body(e);
        }
    };
    let page_result = state
        .db(async { Ok::<_, ApiError>(list_jobs(&mut *state.conn().await?, &filter).await?) })
        .await;
    let found = match page_result {
        Ok(found) => found,
        Err(e) => return super::unavailable(&signed, "Jobs", &e),
    };
    // The page's script asks for the rows alone every few seconds.
    if req.headers().contains_key("x-console-rows") {
        return respond(StatusCode::OK, rows(&found.jobs));
    }
    let states = [
        "",
        "queued",
        "running",
        "done",
        "error",
        "quarantined",
        "cancelled",
    ];
    let body = html! {
        form.filters method="get" action="/jobs" {
            label { "State " select name="state" {
                @for s in states {
                    option value=(s) selected[filters.state == s] { @if s.is_empty() { "any" } @else { (s) } }
                }
            } }
            label { "Customer " input name="customer" value=(filters.customer) size="14"; }
            label { "Category " input name="category" value=(filters.category) size="10"; }
            label { "Type " input name="type" value=(filters.job_type) size="12"; }
            label { "Since " input type="date" name="since" value=(filters.since); }
            label { "Until " input type="date" name="until" value=(filters.until); }
            button type="submit" { "Filter" }
            a href="/jobs" { "Clear" }
        }
        p.refresh { "This list refreshes by itself every 5 seconds." }
        div.table {
            table.jobs {
                thead { tr { th { "Job" } th { "State" } th { "Source" } th { "Customer" } th { "Type" } th { "Group" } th { "Created (UTC)" } th { "Ran" } th { "Error" } } }
                tbody data-refresh="5000" { (rows(&found.jobs)) }
            }
        }
        nav.paging aria-label="Pages" {
            @if filters.before.is_some() { a href={ "/jobs?" (filters.with_before(None)) } { "← Newest" } }
            @if let Some(next) = found.next_cursor { a rel="next" href={ "/jobs?" (filters.with_before(Some(next))) } { "Older →" } }
        }
    };
    respond(StatusCode::OK, page("Jobs", "Jobs", &signed.0, body))
}

/// The job's folder: its inbox directory while it is there, else its archive copy.
fn folder(job: &Job) -> Option<PathBuf> {
    [&job.inbox_path, &job.archive_path]
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .find(|p| p.is_dir())
}

fn files_in(dir: &Path) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                Ok(t) if t.is_file() => {
                    if let Ok(rel) = path.strip_prefix(dir) {
                        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                        found.push((rel.to_string_lossy().to_string(), size));
                    }
                }
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// Time since the trail began: milliseconds matter for the first minute.
fn offset(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("+{seconds:.3} s")
    } else {
        format!("+{}", age(seconds))
    }
}

fn timeline(events: &[JobEvent]) -> Markup {
    let start = events.first().map(|e| e.at);
    let longest = events
        .iter()
        .filter_map(|e| e.duration_ms)
        .max()
        .unwrap_or(1)
        .max(1);
    html! {
        ol.timeline {
            @for e in events {
                li class={ "event " (e.status.as_deref().unwrap_or(&e.phase)) } {
                    span.at { (offset(start.map_or(0.0, |s| (e.at - s).as_seconds_f64()))) }
                    span.step { (e.step) " " (e.phase) }
                    @if let Some(status) = &e.status { span.status { (status) } }
                    @if let Some(ms) = e.duration_ms {
                        span.duration { (ms) " ms" }
                        // An SVG's width attribute, not a style: the console's CSP allows no inline style.
                        svg.bar viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true" {
                            rect width=(((ms as f64 / longest as f64) * 100.0).max(1.0) as u32) height="8" rx="4" {}
                        }
                    }
                    @if let Some(m) = &e.message { span.message { (m) } }
                }
            }
        }
    }
}

pub async fn show(
    state: web::Data<AppState>,
    signed: SignedIn,
    id: web::Path<i64>,
    notice: web::Query<super::Notice>,
) -> HttpResponse {
    let id = id.into_inner();
    let found = state
        .db(async {
            let mut conn = state.conn().await?;
            let job = find_job(&mut conn, id).await?;
            let events = events_of(&mut conn, id).await?;
            Ok::<_, ApiError>(job.map(|job| (job, events)))
        })
        .await;
    let (job, events) = match found {
        Ok(Some(found)) if signed.sees(&found.0.customer) => found,
        Ok(_) => return super::not_found(&signed, &format!("Job {id} does not exist.")),
        Err(e) => return super::unavailable(&signed, "Job", &e),
    };
    let folder = folder(&job);
    let files = folder.as_deref().map(files_in).unwrap_or_default();
    let retryable = matches!(
        job.state,
        JobState::Done | JobState::Error | JobState::Cancelled
    ) && !from_quarantine(&job);
    let cancellable = matches!(job.state, JobState::Queued | JobState::Running);
    let body = html! {
        @if let Some(done) = &notice.done { p.notice role="status" { (done) } }
        section.job {
            p { (state_badge(job.state.as_str())) " " (job.source) " · " (job.customer) " · " (job.category) "/" (job.job_type) " · " (job.job_group) }
            dl.fields {
                dt { "Created" } dd { (time(job.created_at)) " UTC" }
                @if let Some(s) = job.started_at { dt { "Started" } dd { (time(s)) " UTC" } }
                @if let Some(f) = job.finished_at { dt { "Finished" } dd { (time(f)) " UTC" } }
                dt { "Attempts" } dd { (job.attempts) " of " (job.max_attempts) }
                @for field in ["sender", "recipient", "subject", "key", "etag", "triggered_by"] {
                    @if let Some(v) = job.metadata[field].as_str() { dt { (field) } dd { (v) } }
                }
            }
            @if from_quarantine(&job) && job.state != JobState::Quarantined {
                p { "This mail was quarantined and has left the quarantine (released as a new job, or deleted): it has no module to run it, so it cannot be retried." }
            }
            div.actions {
                @if retryable {
                    form method="post" action={ "/jobs/" (id) "/retry" } {
                        input type="hidden" name="csrf" value=(signed.0.csrf);
                        button type="submit" { "Retry" }
                    }
                }
                @if cancellable {
                    form method="post" action={ "/jobs/" (id) "/cancel" } data-confirm="Cancel this job?" {
                        input type="hidden" name="csrf" value=(signed.0.csrf);
                        button.danger type="submit" { "Cancel" }
                    }
                }
            }
            @if let Some(error) = &job.error { h2 { "Error" } pre.error { (error) } }
            @if let Some(result) = &job.result { h2 { "Result" } pre { (serde_json::to_string_pretty(result).unwrap_or_default()) } }
            h2 { "Trail" }
            (timeline(&events))
            h2 { "Files" }
            @match &folder {
                Some(dir) => {
                    p.path { (dir.display()) }
                    ul.files { @for (name, size) in &files {
                        li { a href={ "/jobs/" (id) "/file?" (serde_urlencoded::to_string([("path", name)]).unwrap_or_default()) } download { (name) } " " span.size { (super::layout::bytes(*size as i64)) } }
                    } }
                }
                None => p { "No files kept (archiving off, or removed by retention)." }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(&format!("Job {id}"), "Jobs", &signed.0, body),
    )
}

/// A job made of quarantined mail: no routing rule gave it a type, so it carries the
/// placeholder `unknown/unknown`, which no module handles. Once released (a new job is made)
/// or deleted it ends `cancelled`; retrying it would only fail with `no module handles
/// unknown/unknown`, so the console neither offers nor accepts a retry of it.
fn from_quarantine(job: &Job) -> bool {
    (job.category.as_str(), job.job_type.as_str()) == shared_modules::jobs::QUARANTINED_TYPE
}

fn back_to(id: i64, done: &str) -> HttpResponse {
    super::redirect_with_notice(&format!("/jobs/{id}"), done)
}

pub async fn retry(
    state: web::Data<AppState>,
    signed: SignedIn,
    id: web::Path<i64>,
    form: web::Form<super::login::Csrf>,
) -> HttpResponse {
    if let Some(refused) = signed.refuse_forged(&form.csrf) {
        return refused;
    }
    let id = id.into_inner();
    let retried = super::act(&state, async {
        let mut conn = state.conn().await?;
        if !visible(&mut conn, &signed, id).await? {
            return Ok(Err(Refused::NotFound));
        }
        let reason = format!(
            "retry requested in the console by {}",
            signed.0.principal.label()
        );
        Ok::<_, ApiError>(retry_job(&mut conn, id, &reason).await?)
    })
    .await;
    match retried {
        Ok(Ok(_)) => back_to(id, "Queued again."),
        Ok(Err(Refused::NotFound)) => {
            super::not_found(&signed, &format!("Job {id} does not exist."))
        }
        Ok(Err(reason)) => back_to(id, &format!("Not retried: the job {reason}.")),
        Err(e) => super::unavailable(&signed, "Job", &e),
    }
}

pub async fn cancel(
    state: web::Data<AppState>,
    signed: SignedIn,
    id: web::Path<i64>,
    form: web::Form<super::login::Csrf>,
) -> HttpResponse {
    if let Some(refused) = signed.refuse_forged(&form.csrf) {
        return refused;
    }
    let id = id.into_inner();
    let cancelled = super::act(&state, async {
        let mut conn = state.conn().await?;
        if !visible(&mut conn, &signed, id).await? {
            return Ok(Err(Refused::NotFound));
        }
        Ok::<_, ApiError>(cancel_job(&mut conn, id).await?)
    })
    .await;
    match cancelled {
        Ok(Ok(_)) => back_to(id, "Cancelled."),
        Ok(Err(Refused::NotFound)) => {
            super::not_found(&signed, &format!("Job {id} does not exist."))
        }
        Ok(Err(reason)) => back_to(id, &format!("Not cancelled: the job {reason}.")),
        Err(e) => super::unavailable(&signed, "Job", &e),
    }
}

/// Whether job `id` exists and the session may see it.
async fn visible(
    conn: &mut diesel_async::AsyncPgConnection,
    signed: &SignedIn,
    id: i64,
) -> Result<bool, ApiError> {
    Ok(find_job(conn, id)
        .await?
        .is_some_and(|job| signed.sees(&job.customer)))
}

#[derive(Deserialize)]
pub struct FileName {
    path: String,
}

/// One of the job's files, as a download. The name must be a file inside the job's folder.
pub async fn file(
    state: web::Data<AppState>,
    signed: SignedIn,
    id: web::Path<i64>,
    name: web::Query<FileName>,
) -> HttpResponse {
    let id = id.into_inner();
    let found = state
        .db(async { Ok::<_, ApiError>(find_job(&mut *state.conn().await?, id).await?) })
        .await;
    let job = match found {
        Ok(Some(job)) if signed.sees(&job.customer) => job,
        Ok(_) => return super::not_found(&signed, &format!("Job {id} does not exist.")),
        Err(e) => return super::unavailable(&signed, "Job", &e),
    };
    let inside = folder(&job).and_then(|dir| {
        let wanted = dir.join(&name.path).canonicalize().ok()?;
        (wanted.starts_with(dir.canonicalize().ok()?) && wanted.is_file()).then_some(wanted)
    });
    let Some(path) = inside else {
        return super::not_found(&signed, "No such file in this job.");
    };
    match super::streamed_file(&path).await {
        Ok(body) => {
            let shown = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let safe: String = shown
                .chars()
                .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
                .collect();
            HttpResponse::Ok()
                .content_type("application/octet-stream")
                .insert_header((
                    "Content-Disposition",
                    format!("attachment; filename=\"{safe}\""),
                ))
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body(body)
        }
        Err(e) => super::unavailable(
            &signed,
            "File",
            &ApiError::Unavailable(format!("cannot read {}: {e}", path.display())),
        ),
    }
}
