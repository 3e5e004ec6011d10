//! `mailhandler [--config PATH] <sender> <recipient>`, the message on stdin, as Postfix's
//! pipe(8) runs it. Prints at most one short line; exits 0 (stored, quarantined, or a
//! redelivery of a stored mail) or 75 (anything else: Postfix retries). Details go to the log.
//! No database: the mail is durable in the inbox with a ticket, `dataprocessor serve` makes
//! its job.

use shared_modules::mail::{Accepted, Envelope, accept, exit};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: mailhandler [--config PATH] <sender> <recipient> < message";

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "--version") {
        println!("mailhandler {}", build_info::LONG_VERSION);
        return ExitCode::SUCCESS;
    }
    // A panic must neither print a backtrace into the bounce nor exit 101: log it, exit 75.
    std::panic::set_hook(Box::new(
        |info| tracing::error!(panic = %info, "mailhandler panicked"),
    ));
    let outcome =
        std::panic::catch_unwind(run).unwrap_or_else(|_| Err("internal error; will retry".into()));
    match outcome {
        Ok(line) => {
            println!("{line}");
            exit::code(true)
        }
        Err(line) => {
            println!("mailhandler: {line}");
            exit::code(false)
        }
    }
}

/// Postfix passes the envelope addresses as they came: not always UTF-8. They are taken
/// lossily (`std::env::args` would panic), so such a mail is still stored or quarantined.
fn parse_args() -> Result<(Option<PathBuf>, String, String), String> {
    let mut args = std::env::args_os().skip(1);
    let mut config = None;
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            config = Some(PathBuf::from(args.next().ok_or(USAGE)?));
        } else {
            positional.push(arg.to_string_lossy().into_owned());
        }
    }
    match <[String; 2]>::try_from(positional) {
        Ok([sender, recipient]) => Ok((config, sender, recipient)),
        Err(_) => Err(USAGE.into()),
    }
}

fn run() -> Result<String, String> {
    // A wrong command line or config is an operator's mistake: defer (75) until it is fixed,
    // never bounce the customer's mail.
    let (config_path, sender, recipient) = parse_args()?;
    let config = shared_modules::config::load(config_path.as_deref()).map_err(|e| e.to_string())?;
    shared_modules::logging::init_one_shot("mailhandler", &config.logging);
    let deadline = Duration::from_secs(config.mailhandler.deadline_seconds);
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        tracing::error!(
            deadline_s = deadline.as_secs(),
            "deadline reached; deferring the mail"
        );
        println!(
            "mailhandler: deadline of {} s reached; will retry",
            deadline.as_secs()
        );
        std::process::exit(i32::from(exit::TEMPFAIL));
    });
    let received_at = chrono::Utc::now();
    let mut raw = Vec::new();
    std::io::stdin()
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read the message: {e}"))?;
    let mail = Envelope {
        raw: &raw,
        sender: &sender,
        recipient: &recipient,
        received_at,
    };
    match accept(&config, &mail) {
        Ok(Accepted {
            path,
            quarantined: None,
            ..
        }) => {
            tracing::info!(path = %path.display(), %recipient, "mail stored; serve makes its job");
            Ok(format!("stored in {}", path.display()))
        }
        Ok(Accepted {
            path,
            quarantined: Some(reason),
            ..
        }) => {
            tracing::warn!(path = %path.display(), %recipient, %reason, "mail quarantined");
            Ok(format!("quarantined in {}: {reason}", path.display()))
        }
        Err(e) => {
            tracing::error!(error = %e, %recipient, "delivery deferred");
            Err(format!("{e}; will retry"))
        }
    }
}
