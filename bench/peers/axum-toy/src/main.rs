//! The benchmark peer: the smol-toy service (`GET /toy` waits, then answers
//! `{"result":1}`; `GET /healthz` answers at once) written the way most people would
//! write it today, on axum and tokio's multi-threaded runtime.
//!
//! Usage: `axum-toy [PORT] [DELAY_MS]` (defaults 4568 and 1000). It listens on
//! 127.0.0.1 and exits on SIGINT or SIGTERM after in-flight requests finish.

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
    println!("listening on http://{}", listener.local_addr().expect("bound"));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
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
