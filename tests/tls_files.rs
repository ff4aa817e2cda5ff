//! HTTPS as a user runs it: the certificate options and their errors (exit 2,
//! naming the file and why), the reload on SIGHUP, and SIGHUP without TLS.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::binary::{Running, smol_toy};
use common::certs::{Leaf, TestCa, install};
use common::client::Client;

/// Runs the binary with `args` and returns its exit code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let output = smol_toy(&[&["--port", "0"], args].concat())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn a_certificate_without_its_key_and_bad_files_exit_2_naming_the_file() {
    let ca = TestCa::new();
    let leaf = ca.leaf("good");
    let other = ca.leaf("other");
    let cert = leaf.files.cert.to_str().unwrap();
    let key = leaf.files.key.to_str().unwrap();
    let (code, stderr) = refused(&["--tls-cert", cert]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");

    let missing = ca.dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let garbage = ca.dir.join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").unwrap();
    let garbage = garbage.to_str().unwrap();
    let other_key = other.files.key.to_str().unwrap();
    for (args, file, why) in [
        ([cert, missing], missing, "cannot read it"),
        ([missing, key], missing, "cannot read it"),
        ([garbage, key], garbage, "no PEM CERTIFICATE"),
        ([cert, garbage], garbage, "no PEM private key"),
        // A key is no certificate, nor a certificate a key.
        ([key, key], key, "no PEM CERTIFICATE"),
        ([cert, cert], cert, "no PEM private key"),
        (
            [cert, other_key],
            other_key,
            "not the key of the certificate",
        ),
    ] {
        let (code, stderr) = refused(&["--tls-cert", args[0], "--tls-key", args[1]]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{file}: ")) && stderr.contains(why),
            "{args:?}: {stderr}"
        );
    }
}

fn handshake_sees(server: &Running, ca: &TestCa, leaf: &Leaf) -> Client {
    let mut client = Client::connect_tls(server.addr, &ca.client_config(&[])).unwrap();
    let served = &client.tls().unwrap().peer_certificates().unwrap()[0];
    assert_eq!(served, &leaf.der, "the certificate served");
    assert_eq!(client.get("/healthz").status, 200);
    client
}

fn metric_line(client: &mut Client, name: &str) -> String {
    let metrics = client.get("/metrics").body_text();
    let line = metrics.lines().find(|line| line.starts_with(name));
    line.unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .to_owned()
}

/// Waits until the server's log has `count` lines holding `text`.
fn wait_for_log(stderr_file: &Path, text: &str, count: usize) {
    let started = Instant::now();
    loop {
        let log = std::fs::read_to_string(stderr_file).unwrap_or_default();
        if log.matches(text).count() >= count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no {text:?} in {log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_serves_a_renewed_certificate_to_new_connections_and_keeps_a_broken_one_out() {
    let ca = TestCa::new();
    let first = ca.leaf("first");
    let renewed = ca.leaf("renewed");
    let in_service = ca.leaf("in-service");
    install(&first, &in_service.files);
    let log = ca.dir.join("stderr.log");
    let mut command = smol_toy(&["--host", "127.0.0.1", "--port", "0"]);
    command.args(in_service.args());
    let server = Running::spawn_with_stderr(command, &log);
    wait_for_log(
        &log,
        "TLS: serving the certificate for localhost, 127.0.0.1",
        1,
    );

    let mut old = handshake_sees(&server, &ca, &first);
    install(&renewed, &in_service.files);
    server.signal("HUP");
    wait_for_log(&log, "TLS: reloaded the certificate for localhost", 1);
    let mut new = handshake_sees(&server, &ca, &renewed);
    // The connection opened before the reload goes on with its own session.
    assert_eq!(old.get("/healthz").status, 200);
    assert_eq!(
        &old.tls().unwrap().peer_certificates().unwrap()[0],
        &first.der
    );

    // A key that is not the certificate's is refused; the renewed pair stays.
    std::fs::copy(&first.files.key, &in_service.files.key).unwrap();
    server.signal("HUP");
    wait_for_log(&log, "TLS: reload refused", 1);
    handshake_sees(&server, &ca, &renewed);
    // So is a file that cannot be read.
    std::fs::remove_file(&in_service.files.cert).unwrap();
    server.signal("HUP");
    wait_for_log(&log, "TLS: reload refused", 2);
    handshake_sees(&server, &ca, &renewed);

    assert_eq!(
        metric_line(&mut new, "smol_toy_tls_reloads_total{result=\"ok\"}"),
        "smol_toy_tls_reloads_total{result=\"ok\"} 1"
    );
    assert_eq!(
        metric_line(&mut new, "smol_toy_tls_reloads_total{result=\"failed\"}"),
        "smol_toy_tls_reloads_total{result=\"failed\"} 2"
    );
    let expiry = metric_line(
        &mut new,
        "smol_toy_tls_certificate_expiry_timestamp_seconds ",
    );
    assert_eq!(
        expiry,
        format!(
            "smol_toy_tls_certificate_expiry_timestamp_seconds {}",
            common::certs::NOT_AFTER_UNIX
        )
    );
    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn sighup_without_tls_is_logged_and_ignored() {
    let ca = TestCa::new();
    let log = ca.dir.join("stderr.log");
    let server =
        Running::spawn_with_stderr(smol_toy(&["--host", "127.0.0.1", "--port", "0"]), &log);
    server.signal("HUP");
    wait_for_log(&log, "SIGHUP: nothing to reload", 1);
    assert_eq!(Client::connect(server.addr).get("/healthz").status, 200);
    server.signal("TERM");
    let (code, _) = server.wait(Duration::from_secs(5));
    assert_eq!(code, Some(0));
}

#[test]
fn the_server_says_it_listens_on_https() {
    let ca = TestCa::new();
    let leaf = ca.leaf("leaf");
    let mut command = smol_toy(&["--host", "127.0.0.1", "--port", "0"]);
    command.args(leaf.args());
    let (mut child, line) = Running::spawn_listening(command);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        line.starts_with("listening on https://127.0.0.1:"),
        "{line}"
    );
}

#[test]
fn access_lines_say_whether_the_exchange_was_over_tls() {
    let ca = TestCa::new();
    let leaf = ca.leaf("leaf");
    for format in ["json", "text"] {
        let mut command = smol_toy(&["--host", "127.0.0.1", "--port", "0", "--log-format", format]);
        command.args(leaf.args());
        let server = Running::spawn(command);
        handshake_sees(&server, &ca, &leaf);
        // Plain HTTP to the HTTPS port.
        assert_eq!(Client::connect(server.addr).get("/healthz").status, 400);
        server.signal("TERM");
        let (code, stderr) = server.wait(Duration::from_secs(5));
        assert_eq!(code, Some(0), "{stderr}");
        let access: Vec<&str> = (stderr.lines())
            .filter(|line| line.contains("smol_toy::access"))
            .collect();
        assert_eq!(access.len(), 2, "{stderr}");
        if format == "json" {
            let over_tls: serde_json::Value = serde_json::from_str(access[0]).unwrap();
            assert_eq!(over_tls["tls"], "TLSv1.3", "{over_tls}");
            assert_eq!(over_tls["status"], 200);
            let plain: serde_json::Value = serde_json::from_str(access[1]).unwrap();
            assert_eq!(plain["tls"], serde_json::Value::Null, "{plain}");
            assert_eq!(plain["status"], 400);
        } else {
            assert!(access[0].ends_with(" https"), "{}", access[0]);
            assert!(!access[1].ends_with(" https"), "{}", access[1]);
        }
    }
}
