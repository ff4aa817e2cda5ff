//! An HTTP/2 client for the tests: h2's own, on smol through tokio-util's `compat`
//! (no tokio runtime), in cleartext by prior knowledge or over TLS with ALPN h2.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_rustls::TlsConnector;
use futures_rustls::pki_types::ServerName;
use h2::client::SendRequest;
use rustls::ClientConfig;
use smol::net::TcpStream;
use tokio_util::compat::FuturesAsyncReadCompatExt;

/// One HTTP/2 connection: the handle that opens streams, and the task that drives
/// the connection (its output: how the connection ended).
pub struct H2Connection {
    pub send: SendRequest<Bytes>,
    pub driver: smol::Task<Result<(), h2::Error>>,
}

/// A response over HTTP/2.
pub type H2Response = super::StreamResponse;

/// Connects in cleartext, and starts HTTP/2 with the preface.
pub async fn connect(addr: SocketAddr) -> H2Connection {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    handshake(tcp).await
}

/// Connects over TLS, offering `config`'s ALPN (h2 among it), for `localhost`.
pub async fn connect_tls(addr: SocketAddr, config: &Arc<ClientConfig>) -> H2Connection {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    handshake(tls).await
}

async fn handshake<S>(stream: S) -> H2Connection
where
    S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = h2::client::handshake(stream.compat())
        .await
        .expect("HTTP/2 handshake");
    H2Connection {
        send,
        driver: smol::spawn(connection),
    }
}

impl H2Connection {
    /// GET `path` on a new stream; the response, or the stream's error.
    pub async fn get(&self, path: &str) -> Result<H2Response, h2::Error> {
        let request = http::Request::get(format!("http://localhost{path}"))
            .body(())
            .unwrap();
        self.request(request, Bytes::new()).await
    }

    /// Sends `request` with `body` on a new stream; the response, or the stream's
    /// error.
    pub async fn request(
        &self,
        request: http::Request<()>,
        body: Bytes,
    ) -> Result<H2Response, h2::Error> {
        let mut send = self.send.clone().ready().await?;
        let end = body.is_empty();
        let (response, mut stream) = send.send_request(request, end)?;
        if !end {
            stream.send_data(body, true)?;
        }
        let (head, mut received) = response.await?.into_parts();
        let mut body = Vec::new();
        while let Some(chunk) = received.data().await {
            let chunk = chunk?;
            let _ = received.flow_control().release_capacity(chunk.len());
            body.extend_from_slice(&chunk);
        }
        Ok(H2Response {
            head,
            body: Bytes::from(body),
        })
    }
}
