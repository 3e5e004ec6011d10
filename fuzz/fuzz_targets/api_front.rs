//! What any client on the internet sends the API port first: the front's TLS ending
//! (rustls with the port's own settings) and its carrying of the bytes to actix, in memory.
//! The first input byte picks TLS or plain; the rest is the client's stream. Time is
//! paused, so the front's timeouts pass at once when nothing moves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A throwaway certificate made with openssl at start (none is kept in the repository).
fn acceptor() -> &'static tokio_rustls::TlsAcceptor {
    static ACCEPTOR: OnceLock<tokio_rustls::TlsAcceptor> = OnceLock::new();
    ACCEPTOR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
            .args(["-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl is required");
        assert!(made.status.success());
        api::http::front::tls::acceptor(&cert, &key).expect("the certificate loads")
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, stream)) = bytes.split_first() else {
        return;
    };
    let tls = (kind & 1 == 1).then(acceptor);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, mut client_peer) = tokio::io::duplex(64 * 1024);
        let (server, mut server_peer) = tokio::io::duplex(64 * 1024);
        let sent = stream.to_vec();
        let client_side = tokio::spawn(async move {
            let _ = client_peer.write_all(&sent).await;
            let _ = client_peer.shutdown().await;
            let mut answer = Vec::new();
            let _ = client_peer.read_to_end(&mut answer).await;
        });
        let plain = tls.is_none();
        let server_side = tokio::spawn(async move {
            let mut carried = Vec::new();
            let _ = server_peer.read_to_end(&mut carried).await;
            carried
        });
        let _ = api::http::front::carry_either(
            client,
            server,
            tls,
            Duration::from_secs(10),
            Duration::from_secs(60),
            tokio_util::sync::CancellationToken::new(),
        )
        .await;
        let _ = client_side.await;
        let carried = server_side.await.expect("server side");
        // Plain bytes reach actix exactly as sent.
        if plain {
            assert_eq!(carried, stream);
        }
    });
});
