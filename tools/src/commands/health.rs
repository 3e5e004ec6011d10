use super::{FAILED, Failure, Outcome, conn};
use diesel_async::RunQueryDsl;
use shared_modules::config::Config;
use std::time::Duration;

/// The container's HEALTHCHECK: the database answers, the data root is writable, and the
/// API accepts connections on `api.listen`. Prints one line; exit 0 or 1.
pub async fn run(config: &Config) -> Outcome {
    let mut c = conn(config).await?;
    diesel::sql_query("SELECT 1").execute(&mut c).await?;
    let probe = config
        .paths
        .root
        .join("tmp")
        .join(format!(".dpctl-health-{}", std::process::id()));
    std::fs::write(&probe, b"ok")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| {
            Failure::new(
                FAILED,
                format!("storage: {} not writable: {e}", probe.display()),
            )
        })?;
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
