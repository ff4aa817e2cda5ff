//! Where an HTTPS connection's bytes go: `cargo bench --bench tls_session`.
//!
//! Accepts 1,000 TLS connections from rustls clients (on other threads) through
//! smol-toy's acceptor, as the server does, and counts the heap the server's side
//! holds per connection once every handshake is done and the connections wait: the
//! socket's reactor registration, the `TlsStream` box, and rustls' session (its keys
//! and state). Counted on the server's thread only, in bytes asked of the allocator
//! (mimalloc rounds each up to its size class). The connection task and the HTTP
//! layer come on top (docs/runtime.md).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Barrier};

use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use smol_toy::{Acceptor, CertificateFiles, Peer, Socket, TlsAcceptor};

const CONNECTIONS: usize = 1000;

/// mimalloc, counting the bytes live on the threads that ask for it.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count(bytes: isize) {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        LIVE.fetch_add(bytes, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { ALLOCATOR.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { ALLOCATOR.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { ALLOCATOR.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let dir = std::env::temp_dir().join(format!("smol-toy-tls-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let files = CertificateFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    let acceptor = Some(TlsAcceptor::new(files).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();

    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let done = Arc::new(Barrier::new(2));
    let clients = std::thread::spawn({
        let done = Arc::clone(&done);
        move || {
            let mut open = Vec::new();
            for _ in 0..CONNECTIONS {
                let name = ServerName::try_from("localhost").unwrap();
                let mut session = ClientConnection::new(Arc::clone(&config), name).unwrap();
                let mut socket = TcpStream::connect(addr).unwrap();
                while session.is_handshaking() {
                    session.complete_io(&mut socket).unwrap();
                }
                // The tickets the server sends after the handshake.
                socket.flush().unwrap();
                open.push((session, socket));
            }
            done.wait();
            open
        }
    });

    COUNTED.set(true);
    let before = LIVE.load(Ordering::Relaxed);
    let streams = smol::block_on(async {
        let mut streams = Vec::with_capacity(CONNECTIONS);
        let vec_bytes = (CONNECTIONS * size_of::<smol_toy::testing::MaybeTls>()) as isize;
        LIVE.fetch_sub(vec_bytes, Ordering::Relaxed);
        for _ in 0..CONNECTIONS {
            let (stream, peer) = listener.accept().unwrap();
            let socket = Socket::tcp(stream).unwrap();
            let (stream, _) = acceptor.accept(socket, &Peer::Ip(peer)).await.unwrap();
            streams.push(stream);
        }
        streams
    });
    let after = LIVE.load(Ordering::Relaxed);
    COUNTED.set(false);
    done.wait();
    let per_connection = (after - before) as f64 / CONNECTIONS as f64;
    println!(
        "{CONNECTIONS} HTTPS connections after their handshakes, waiting: \
         {per_connection:.0} bytes of heap each on the server's side (the socket's \
         registration, the TlsStream box of {} bytes, rustls' session)",
        size_of::<smol_toy::testing::TlsStream>()
    );
    drop(streams);
    drop(clients.join().unwrap());
}
