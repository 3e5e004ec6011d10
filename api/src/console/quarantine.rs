//! Quarantine: each mail with its reason, sender and subject; the message itself; release
//! (route it again with the current config) or delete.

use super::layout::{page, respond, time};
use super::login::Csrf;
use super::session::SignedIn;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use shared_modules::jobs::{JobFilter, JobState, discard_quarantined, find_job, list_jobs};
use shared_modules::mail::{RAW_FILE, release_quarantined};

pub async fn list(
    state: web::Data<AppState>,
    signed: SignedIn,
    notice: web::Query<super::Notice>,
) -> HttpResponse {
    if let Some(refused) = super::operator_only(&signed) {
        return refused;
    }
    let filter = JobFilter {
        state: Some(JobState::Quarantined),
        limit: 200,
        ..JobFilter::default()
    };
    let found = state
        .db(async { Ok::<_, ApiError>(list_jobs(&mut *state.conn().await?, &filter).await?) })
        .await;
    let jobs = match found {
        Ok(found) => found.jobs,
        Err(e) => return super::unavailable(&signed, "Quarantine", &e),
    };
    let body = html! {
        @if let Some(done) = &notice.done { p.notice role="status" { (done) } }
        p { "Mail that matched no routing rule, or came from a sender not allowed for its customer. Fix config.json first (an address, allowed senders, a rule), then release it: it becomes a new job." }
        @if jobs.is_empty() { p.empty { "Nothing is waiting in quarantine." } }
        ul.quarantine {
            @for job in &jobs {
                li {
                    h2 { a href={ "/jobs/" (job.id) } { "Job " (job.id) } " · " (time(job.created_at)) " UTC" }
                    dl.fields {
                        dt { "Reason" } dd { (job.error.as_deref().unwrap_or("")) }
                        dt { "Sender" } dd { (job.metadata["sender"].as_str().unwrap_or("")) }
                        dt { "Recipient" } dd { (job.metadata["recipient"].as_str().unwrap_or("")) }
                        dt { "Subject" } dd { (job.metadata["subject"].as_str().unwrap_or("")) }
                    }
                    div.actions {
                        a.button href={ "/quarantine/" (job.id) "/message" } { "View message" }
                        form method="post" action={ "/quarantine/" (job.id) "/release" } {
                            input type="hidden" name="csrf" value=(signed.0.csrf);
                            button type="submit" { "Release" }
                        }
                        form method="post" action={ "/quarantine/" (job.id) "/delete" } data-confirm="Delete this mail for good?" {
                            input type="hidden" name="csrf" value=(signed.0.csrf);
                            button.danger type="submit" { "Delete" }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page("Quarantine", "Quarantine", &signed.0, body),
    )
}

fn back(done: &str) -> HttpResponse {
    super::redirect_with_notice("/quarantine", done)
}

/// The raw message as plain text (never rendered as HTML: it is untrusted).
pub async fn message(
    state: web::Data<AppState>,
    signed: SignedIn,
    id: web::Path<i64>,
) -> HttpResponse {
    if let Some(refused) = super::operator_only(&signed) {
        return refused;
    }
    let id = id.into_inner();
    let found = state
        .db(async { Ok::<_, ApiError>(find_job(&mut *state.conn().await?, id).await?) })
        .await;
    let job = match found {
        Ok(Some(job)) if job.state == JobState::Quarantined => job,
        Ok(_) => return super::not_found(&signed, &format!("Job {id} is not in quarantine.")),
        Err(e) => return super::unavailable(&signed, "Quarantine", &e),
    };
    let file = std::path::PathBuf::from(job.inbox_path.unwrap_or_default()).join(RAW_FILE);
    match super::streamed_file(&file).await {
        Ok(raw) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Content-Security-Policy", "default-src 'none'"))
            .body(raw),
        Err(e) => super::unavailable(
            &signed,
            "Quarantine",
            &ApiError::Unavailable(format!("cannot read {}: {e}", file.display())),
        ),
    }
}

pub async fn release(
    state: web::Data<AppState>,
    signed: SignedIn,
    id: web::Path<i64>,
    form: web::Form<Csrf>,
) -> HttpResponse {
    if let Some(refused) = super::operator_only(&signed) {
        return refused;
    }
    if let Some(refused) = signed.refuse_forged(&form.csrf) {
        return refused;
    }
    let id = id.into_inner();
    let released = super::act(&state, async {
        let mut conn = state.conn().await?;
        Ok(release_quarantined(&state.config, &mut conn, id).await)
    })
    .await;
    match released {
        Ok(Ok(new_id)) => {
            tracing::info!(
                job.id = id,
                new_job = new_id,
                "console: quarantined mail released"
            );
            back(&format!("Job {id} released as job {new_id}."))
        }
        Ok(Err(e)) => back(&format!("Job {id} not released: {e}")),
        Err(e) => super::unavailable(&signed, "Quarantine", &e),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    signed: SignedIn,
    id: web::Path<i64>,
    form: web::Form<Csrf>,
) -> HttpResponse {
    if let Some(refused) = super::operator_only(&signed) {
        return refused;
    }
    if let Some(refused) = signed.refuse_forged(&form.csrf) {
        return refused;
    }
    let id = id.into_inner();
    let discarded = super::act(&state, async {
        Ok::<_, ApiError>(discard_quarantined(&mut *state.conn().await?, id, "the console").await?)
    })
    .await;
    match discarded {
        Ok(Some(inbox)) => {
            if let Some(dir) = inbox {
                let _ = std::fs::remove_dir_all(&dir);
            }
            tracing::info!(job.id = id, "console: quarantined mail deleted");
            back(&format!("Job {id} deleted."))
        }
        Ok(None) => back(&format!("Job {id} is not in quarantine any more.")),
        Err(e) => super::unavailable(&signed, "Quarantine", &e),
    }
}
