//! HTTP/1.x conformance, table-driven: each case sends raw bytes and states the
//! status that must come back and whether the connection must stay open.

mod cases;
mod common;

use cases::{CASES, Case};
use common::{Streams, TestServer, test_config};

#[test]
fn every_case_gets_its_status_and_connection_outcome() {
    every_case_over(Streams::Sockets);
}

/// The same table over a stream that buffers what it reads and hands it out 100
/// bytes at a time, as TLS does.
#[test]
fn every_case_gets_its_status_and_connection_outcome_over_a_stream_that_buffers() {
    every_case_over(Streams::SmallReads);
}

/// The same table over HTTPS.
#[test]
fn every_case_gets_its_status_and_connection_outcome_over_tls() {
    every_case_over(Streams::Tls);
}

fn every_case_over(streams: Streams) {
    assert!(CASES.len() >= 40);
    let server = TestServer::start_over(test_config(), streams);
    let mut failures = Vec::new();
    for case in CASES {
        if let Err(failure) = run_case(&server, case) {
            failures.push(format!("{}: {failure}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

fn run_case(server: &TestServer, case: &Case) -> Result<(), String> {
    let mut client = server.client();
    client.send(case.request);
    if case.client_closes {
        client.close_sending_side();
    }
    let to_head = case.request.starts_with(b"HEAD ");
    let response = client
        .try_response(to_head)
        .map_err(|e| format!("reading the response: {e}"))?
        .ok_or("closed without a response")?;
    if response.status != case.status {
        return Err(format!(
            "status {} (wanted {}): {}",
            response.status,
            case.status,
            response.body_text()
        ));
    }
    if response.status >= 400 && !to_head {
        let json = response.json();
        if !json["error"].is_string() {
            return Err(format!("error body without an error member: {json}"));
        }
    }
    if case.stays_open {
        if response.says_close() {
            return Err("said Connection: close".into());
        }
        // The connection must be usable for another request.
        let next = client.get("/healthz");
        if next.status != 200 {
            return Err(format!(
                "next request on the connection got {}",
                next.status
            ));
        }
    } else {
        if !response.says_close() {
            return Err("did not say Connection: close".into());
        }
        if !client.is_closed() {
            return Err("the connection stayed open".into());
        }
    }
    Ok(())
}
