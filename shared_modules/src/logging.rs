//! Logging: `tracing` with an `EnvFilter` (`RUST_LOG` wins over `logging.level`), to stderr
//! and, when `logging.directory` is set, to `dataprocessor_<component>.log` rotated daily.

use crate::config::LoggingConfig;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Keep the returned guard alive for the life of the process: dropping it flushes the file.
pub fn init(component: &str, config: &LoggingConfig, to_stderr: bool) -> Option<WorkerGuard> {
    // Postgres NOTICEs (a migration's "already exists, skipping") are not news: warnings
    // and up only, unless `logging.level` or RUST_LOG names tokio_postgres itself.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        if config.level.contains("tokio_postgres") {
            EnvFilter::new(&config.level)
        } else {
            EnvFilter::new(format!("{},tokio_postgres=warn", config.level))
        }
    });
    let (file, guard) = match config
        .directory
        .as_deref()
        .map(|dir| file_writer(component, dir))
    {
        Some(Ok((writer, guard))) => (Some(writer), Some(guard)),
        Some(Err(e)) => {
            // Logging must never stop the work (a mail must still be stored): carry on
            // without the file and say so where someone may see it.
            if to_stderr {
                eprintln!("logging: cannot write to logging.directory: {e}");
            }
            (None, None)
        }
        None => (None, None),
    };
    let stderr = std::io::stderr.with_filter(move |_| to_stderr);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let result = match (file, config.json) {
        (Some(file), true) => builder.json().with_writer(stderr.and(file)).try_init(),
        (Some(file), false) => builder.with_writer(stderr.and(file)).try_init(),
        (None, true) => builder.json().with_writer(stderr).try_init(),
        (None, false) => builder.with_writer(stderr).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
    guard
}

fn file_writer(
    component: &str,
    dir: &std::path::Path,
) -> Result<(tracing_appender::non_blocking::NonBlocking, WorkerGuard), String> {
    let appender = tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(format!("dataprocessor_{component}.log"))
        .build(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(tracing_appender::non_blocking(appender))
}
