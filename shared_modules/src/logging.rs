//! Logging: `tracing` with an `EnvFilter` (`RUST_LOG` wins over `logging.level`), to stderr
//! and, when `logging.directory` is set, to `dataprocessor_<component>.log` rotated daily.

use crate::config::LoggingConfig;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};

/// Keep the returned guard alive for the life of the process: dropping it flushes the file.
pub fn init(component: &str, config: &LoggingConfig, to_stderr: bool) -> Option<WorkerGuard> {
    let (file, guard) = match config
        .directory
        .as_deref()
        .map(|dir| file_writer(component, dir))
    {
        Some(Ok((writer, guard))) => (Some(BoxMakeWriter::new(writer)), Some(guard)),
        Some(Err(e)) => {
            // Logging must never stop the work: carry on without the file and say so where
            // someone may see it.
            if to_stderr {
                eprintln!("logging: cannot write to logging.directory: {e}");
            }
            (None, None)
        }
        None => (None, None),
    };
    install(config, file, to_stderr);
    guard
}

/// For a process that lives for one delivery (the mailhandler): each line is appended
/// straight to the same daily file `init` writes (`dataprocessor_<component>.log.<date>`),
/// with no writer thread and no rotation machinery, which cost ~2 ms per start. A file
/// that cannot be opened is skipped: a mail must still be stored.
pub fn init_one_shot(component: &str, config: &LoggingConfig) {
    let file = config.directory.as_deref().and_then(|dir| {
        let name = format!(
            "dataprocessor_{component}.log.{}",
            chrono::Utc::now().format("%Y-%m-%d")
        );
        let _ = std::fs::create_dir_all(dir);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .ok()
    });
    install(
        config,
        file.map(|f| BoxMakeWriter::new(std::sync::Mutex::new(f))),
        false,
    );
}

fn install(config: &LoggingConfig, file: Option<BoxMakeWriter>, to_stderr: bool) {
    // Postgres NOTICEs (a migration's "already exists, skipping") are not news: warnings
    // and up only, unless `logging.level` or RUST_LOG names tokio_postgres itself.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        if config.level.contains("tokio_postgres") {
            EnvFilter::new(&config.level)
        } else {
            EnvFilter::new(format!("{},tokio_postgres=warn", config.level))
        }
    });
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
