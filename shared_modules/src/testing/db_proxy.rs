//! A database outage as a client sees it.

use std::time::Duration;

/// A TCP proxy to Postgres that the test can take down (refusing and cutting connections)
/// and bring back, as a database outage looks from the mailhandler.
pub struct DbProxy {
    pub port: u16,
    up: std::sync::Mutex<Option<tokio_util::sync::CancellationToken>>,
    hung: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl DbProxy {
    pub async fn start() -> std::sync::Arc<DbProxy> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let proxy = std::sync::Arc::new(DbProxy {
            port,
            up: std::sync::Mutex::new(None),
            hung: Default::default(),
        });
        proxy.set_up();
        proxy
    }

    pub fn set_up(&self) {
        self.set_down();
        self.hung.store(false, std::sync::atomic::Ordering::SeqCst);
        self.listen(true);
    }

    /// A database that stops answering without closing anything: open connections stay
    /// open and carry nothing more, new ones are accepted and never answered.
    pub fn set_hung(&self) {
        self.hung.store(true, std::sync::atomic::Ordering::SeqCst);
        self.set_down();
        self.listen(false);
    }

    fn listen(&self, forward: bool) {
        let hung = self.hung.clone();
        // The previous listener closes when its task sees the cancellation: wait for the port.
        let mut tries = 0;
        let listener: tokio::net::TcpListener = loop {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            let bound = socket
                .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
                .and_then(|()| socket.listen(64));
            match bound {
                Ok(listener) => break listener,
                Err(_) if tries < 200 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("cannot listen on the proxy's port again: {e}"),
            }
        };
        let token = tokio_util::sync::CancellationToken::new();
        *self.up.lock().unwrap() = Some(token.clone());
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => return },
                };
                let token = token.clone();
                let hung = hung.clone();
                tokio::spawn(async move {
                    if !forward {
                        // Hold the connection open, answer nothing, until the test moves on.
                        token.cancelled().await;
                        drop(client);
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                    }
                    if hung.load(std::sync::atomic::Ordering::SeqCst) {
                        // Stop carrying bytes but keep both ends open, as a hung server does.
                        std::future::pending::<()>().await;
                    }
                });
            }
        });
    }

    /// `url` (a database on 127.0.0.1:5432) rewritten to go through this proxy.
    pub fn url_for(&self, url: &str) -> String {
        url.replace(":5432/", &format!(":{}/", self.port))
    }

    pub fn set_down(&self) {
        if let Some(token) = self.up.lock().unwrap().take() {
            token.cancel();
        }
    }
}
