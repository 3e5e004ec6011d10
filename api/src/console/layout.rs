//! The frame every console page shares: head, navigation, sign-out; and small formatters.

use super::session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use maud::{Markup, html};

/// The document's head: title, viewport, the console's own style sheet and script.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · HView DataProcessor" }
            link rel="icon" href="/console/icon.svg" type="image/svg+xml";
            link rel="stylesheet" href="/console/console.css";
            script src="/console/console.js" defer {}
        }
    }
}

/// Which build answers, at the foot of every page (the sign-in form too).
pub fn footer() -> Markup {
    html! { footer.build { "DataProcessor " (build_info::VERSION) " · commit " (build_info::COMMIT) } }
}

/// A rendered page as the answer, with `status`.
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// A page in the frame; the navigation is the operator's, or a customer's (its jobs, its
/// grids, its uploads) with the customer named.
pub fn page(title: &str, active: &str, session: &Session, body: Markup) -> Markup {
    let csrf = &session.csrf;
    let customer = session.principal.customer();
    let nav: &[(&str, &str)] = match customer {
        None => &[
            ("/", "Overview"),
            ("/jobs", "Jobs"),
            ("/quarantine", "Quarantine"),
            ("/grids", "Grids"),
        ],
        Some(_) => &[
            ("/jobs", "Jobs"),
            ("/grids", "Grids"),
            ("/upload", "Upload"),
        ],
    };
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "HView DataProcessor" }
                    nav aria-label="Console" {
                        @for (href, label) in nav {
                            a href=(href) aria-current=[(*label == active).then_some("page")] { (label) }
                        }
                    }
                    @if let Some(customer) = customer {
                        span.who { "Signed in as " strong { (customer) } }
                    }
                    form.signout method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { "Sign out" }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                (footer())
            }
        }
    }
}

/// `2026-12-04 16:39:07` (UTC), for tables.
pub fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `3 min`, `5 h 2 min`, `2 d 4 h`: an age or a duration for people.
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// A job state as a coloured badge (the colour class is the state's name).
pub fn state_badge(state: &str) -> Markup {
    html! { span class={ "badge " (state) } { (state) } }
}

/// Bytes for people: `12.3 TB`.
pub fn bytes(n: i64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}
