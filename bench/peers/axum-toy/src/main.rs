//! The benchmark peer: the smol-toy service (`GET /toy` waits, then answers
//! `{"result":1}`; `GET /healthz` answers at once) written the way most people would
//! write it today, on axum and tokio's multi-threaded runtime.
//!
//! Usage: `axum-toy [PORT] [DELAY_MS] [CERT KEY]` (defaults 4568 and 1000). It
//! listens on 127.0.0.1 and exits on SIGINT or SIGTERM after in-flight requests
//! finish. With CERT and KEY (PEM files) it serves HTTPS, with axum-server and rustls
//! on the ring provider, as smol-toy does: TLS 1.3 and 1.2, ALPN `h2` then
//! `http/1.1`, the server's suite order, TCP_NODELAY (without it, TLS 1.3 session
//! tickets meet Nagle's algorithm and a first response can wait 40 ms).
//!
//! Both ports speak HTTP/1.1 and HTTP/2 through hyper-util's auto builder, which
//! axum and axum-server use: in cleartext a connection that opens with HTTP/2's
//! preface is served HTTP/2 (prior knowledge), over TLS the one ALPN chose.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::{Json, Router, routing::get};
use serde_json::json;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(4568, |a| a.parse().expect("PORT is a number"));
    let delay_ms: u64 = args.next().map_or(1000, |a| a.parse().expect("DELAY_MS is a number"));
    let delay = Duration::from_millis(delay_ms);
    let tls = args.next().map(|cert| (cert, args.next().expect("KEY follows CERT")));

    let app = Router::new()
        .route(
            "/toy",
            get(move || async move {
                tokio::time::sleep(delay).await;
                Json(json!({ "result": 1 }))
            }),
        )
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }));

    // The same socket settings smol-toy uses, so that the comparison is of the
    // servers and not of their defaults: a 4096-connection backlog (tokio's `bind`
    // asks for 1024) and TCP_NODELAY on every connection.
    let socket = tokio::net::TcpSocket::new_v4().expect("cannot open a socket");
    socket.set_reuseaddr(true).expect("cannot set SO_REUSEADDR");
    socket
        .bind(([127, 0, 0, 1], port).into())
        .expect("cannot bind");
    let listener = socket.listen(4096).expect("cannot listen");
    if let Some((cert, key)) = tls {
        return serve_https(listener, app, &cert, &key).await;
    }
    println!("listening on http://{}", listener.local_addr().expect("bound"));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .expect("server failed");
}

async fn serve_https(listener: tokio::net::TcpListener, app: Router, cert: &str, key: &str) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let chain = CertificateDer::pem_file_iter(cert)
        .expect("cannot read CERT")
        .collect::<Result<Vec<_>, _>>()
        .expect("CERT is no PEM chain");
    let key = PrivateKeyDer::from_pem_file(key).expect("cannot read KEY");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring has TLS 1.3 and 1.2")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("the key is the certificate's");
    config.ignore_client_order = true;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
    )
    .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let listener = listener.into_std().expect("a std listener");
    println!("listening on https://{}", listener.local_addr().expect("bound"));
    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::from_tcp(listener)
        .expect("a listener")
        .acceptor(acceptor)
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .expect("server failed");
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("cannot handle SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
