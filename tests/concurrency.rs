//! Requests on different connections wait concurrently: waiting holds no thread.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{TestServer, test_config};
use smol::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `count` GET /toy at once, each on its own connection; returns every
/// response's text and the wall time for all of them.
fn concurrent_toys(addr: SocketAddr, count: usize) -> (Vec<String>, Duration) {
    smol::block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..count)
            .map(|_| {
                smol::spawn(async move {
                    let mut stream = smol::net::TcpStream::connect(addr).await?;
                    stream
                        .write_all(b"GET /toy HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        .await?;
                    let mut text = String::new();
                    stream.read_to_string(&mut text).await?;
                    Ok::<_, std::io::Error>(text)
                })
            })
            .collect();
        let mut responses = Vec::new();
        for task in tasks {
            responses.push(task.await.expect("request"));
        }
        (responses, started.elapsed())
    })
}

fn check(count: usize) {
    let mut config = test_config();
    config.delay = Duration::from_secs(1).into();
    let server = TestServer::start(config);
    let (responses, elapsed) = concurrent_toys(server.addr, count);
    let ok = responses
        .iter()
        .filter(|r| r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with(r#"{"result":1}"#))
        .count();
    assert_eq!(
        ok,
        count,
        "not all 200: {:?}",
        responses.iter().find(|r| !r.contains("200 OK"))
    );
    assert!(
        elapsed >= Duration::from_secs(1),
        "{count} took {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "{count} took {elapsed:?}");
}

#[test]
fn two_hundred_concurrent_toys_finish_in_under_two_seconds() {
    check(200);
}

#[test]
fn a_thousand_concurrent_toys_finish_in_under_two_seconds() {
    check(1000);
}
