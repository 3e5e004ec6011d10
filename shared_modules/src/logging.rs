//! Logging: `tracing` with an `EnvFilter` (`RUST_LOG` wins over `logging.level`), to stderr
//! and, when `logging.directory` is set, to `dataprocessor_<component>.log` rotated daily.

use crate::config::LoggingConfig;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Keep the returned guard alive for the life of the process: dropping it flushes the file.
pub fn init(component: &str, config: &LoggingConfig, to_stderr: bool) -> Option<WorkerGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let (file, guard) = match &config.directory {
        Some(dir) => {
            let appender =
                tracing_appender::rolling::daily(dir, format!("dataprocessor_{component}.log"));
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (Some(writer), Some(guard))
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
