use super::{FAILED, Failure, Outcome, conn};
use shared_modules::config::Config;
use shared_modules::health::{check_database, check_storage};
use std::time::Duration;

/// The container's HEALTHCHECK: the database answers, the data root is writable, and the
/// API accepts connections on `api.listen`. Prints one line; exit 0 or 1.
pub async fn run(config: &Config) -> Outcome {
    let mut c = conn(config).await?;
    check_database(&mut c)
        .await
        .map_err(|e| Failure::new(FAILED, format!("database: {e}")))?;
    check_storage(&config.paths.root).map_err(|e| Failure::new(FAILED, format!("storage: {e}")))?;
    let port = config.api.listen.rsplit(':').next().unwrap_or("25025");
    let api = format!("127.0.0.1:{port}");
    let connect = tokio::net::TcpStream::connect(&api);
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(_)) => {
            println!("healthy: database, storage and API ({api}) answer");
            Ok(())
        }
        _ => Err(Failure::new(
            FAILED,
            format!("the API does not accept connections on {api}"),
        )),
    }
}
