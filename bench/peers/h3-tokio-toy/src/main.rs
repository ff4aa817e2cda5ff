//! The HTTP/3 benchmark peer: the smol-toy service (`GET /toy` waits, then answers
//! `{"result":1}`; `GET /healthz` answers at once) over HTTP/3 the way h3's own
//! server example serves it: quinn and h3 with their defaults, h3-quinn between
//! them, a tokio task per request, on tokio's multi-threaded runtime.
//!
//! Usage: `h3-tokio-toy PORT DELAY_MS CERT KEY`. It listens on UDP 127.0.0.1:PORT.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h3::server::RequestResolver;
use http::{Response, StatusCode};
use rustls::pki_types::pem::PemObject;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, delay_ms, cert, key] = &args[..] else {
        panic!("usage: h3-tokio-toy PORT DELAY_MS CERT KEY");
    };
    let port: u16 = port.parse().expect("PORT is a number");
    let delay = Duration::from_millis(delay_ms.parse().expect("DELAY_MS is a number"));
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .expect("the certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("the certificate");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).expect("the key");
    // ring, as smol-toy; the function is deprecated only for lacking post-quantum
    // key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the certificate and key");
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).expect("QUIC TLS");
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let endpoint =
        quinn::Endpoint::server(config, ([127, 0, 0, 1], port).into()).expect("cannot bind");
    println!("listening on udp://127.0.0.1:{port}");
    while let Some(incoming) = endpoint.accept().await {
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else {
                return;
            };
            let Ok(mut h3) =
                h3::server::Connection::<_, Bytes>::new(h3_quinn::Connection::new(connection))
                    .await
            else {
                return;
            };
            while let Ok(Some(resolver)) = h3.accept().await {
                tokio::spawn(answer(resolver, delay));
            }
        });
    }
}

async fn answer(resolver: RequestResolver<h3_quinn::Connection, Bytes>, delay: Duration) {
    let Ok((request, mut stream)) = resolver.resolve_request().await else {
        return;
    };
    let (status, body) = match request.uri().path() {
        "/toy" => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, serde_json::json!({"result": 1}))
        }
        "/healthz" => (StatusCode::OK, serde_json::json!({"status": "ok"})),
        _ => (StatusCode::NOT_FOUND, serde_json::json!({"error": "not found"})),
    };
    let body = Bytes::from(body.to_string());
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(())
        .expect("a response");
    if stream.send_response(response).await.is_ok() && stream.send_data(body).await.is_ok() {
        let _ = stream.finish().await;
    }
}
