//! Where the listening sockets come from: systemd (socket activation), a Unix socket
//! path, or a TCP address; each with the backlog asked for. For HTTP/3, a UDP
//! socket beside each TCP listener, on its address and port; or the UDP sockets
//! systemd passed (`ListenDatagram=`).

use std::fmt;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use listenfd::ListenFd;
use log::{info, warn};
use rustix::fs::Mode;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::listener::{Listener, Listening};
use super::options::ListenOptions;

/// The sockets to serve, and the Unix socket file to remove at exit.
#[derive(Debug)]
pub struct Listeners {
    /// Every socket to serve.
    pub listening: Vec<Listening>,
    /// The Unix socket file this process created, if any.
    pub socket_file: Option<SocketFile>,
}

/// Opens what the configuration asks for: the sockets systemd passed, if it passed
/// any to this process; else `--unix-socket`; else `--host` and `--port`.
pub fn listen(options: &ListenOptions) -> Result<Listeners, ListenError> {
    let inherited = inherited().map_err(ListenError::Inherited)?;
    if !inherited.is_empty() {
        info!(
            "socket activation: serving {} socket(s) passed by systemd; --host, --port \
             and --unix-socket are not used",
            inherited.len()
        );
        let datagrams = inherited.iter().any(|l| matches!(l, Listener::Udp(_)));
        if options.quic && !datagrams {
            info!("socket activation: no UDP socket passed (ListenDatagram=): no HTTP/3");
        }
        let listening = inherited
            .into_iter()
            .map(|listener| Listening {
                listener,
                inherited: true,
            })
            .collect();
        return Ok(Listeners {
            listening,
            socket_file: None,
        });
    }
    let (listener, socket_file) = match &options.unix_socket {
        Some(path) => {
            let (listener, file) = bind_unix(path, options.unix_socket_mode, options.backlog)
                .map_err(|error| ListenError::Bind(format!("unix:{}", path.display()), error))?;
            (Listener::Unix(listener), Some(file))
        }
        None => {
            let addr = options.addr;
            let listener = bind(addr, options.backlog)
                .map_err(|error| ListenError::Bind(addr.to_string(), error))?;
            (Listener::Tcp(listener), None)
        }
    };
    let datagrams = quic_beside(&listener, options)?;
    let listening = std::iter::once(listener)
        .chain(datagrams)
        .map(|listener| Listening {
            listener,
            inherited: false,
        })
        .collect();
    Ok(Listeners {
        listening,
        socket_file,
    })
}

/// Why the server cannot listen.
#[derive(Debug)]
pub enum ListenError {
    /// A socket passed by systemd is not one this server can serve.
    Inherited(io::Error),
    /// Binding this address failed.
    Bind(String, io::Error),
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::Inherited(error) => {
                write!(f, "cannot use the sockets systemd passed: {error}")
            }
            ListenError::Bind(address, error) => write!(f, "cannot listen on {address}: {error}"),
        }
    }
}

/// Opens a TCP listening socket with the given backlog (std's `bind` fixes it at
/// 128, which overflows when thousands of clients connect at once).
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// With `options.quic`, a UDP socket beside a TCP listener, on its address and port.
fn quic_beside(
    listener: &Listener,
    options: &ListenOptions,
) -> Result<Option<Listener>, ListenError> {
    let Listener::Tcp(tcp) = listener else {
        return Ok(None);
    };
    if !options.quic {
        return Ok(None);
    }
    let addr = tcp
        .local_addr()
        .map_err(|e| ListenError::Bind(options.addr.to_string(), e))?;
    let udp = bind_udp(addr).map_err(|error| ListenError::Bind(format!("udp {addr}"), error))?;
    Ok(Some(Listener::Udp(udp)))
}

/// A UDP socket on `addr`, for QUIC; dual-stack on an IPv6 address, as the TCP
/// listener is, so that `::` also takes IPv4 clients.
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The listening sockets systemd passed to this process (`LISTEN_FDS`, with
/// `LISTEN_PID` naming it), TCP, Unix or UDP; none when it passed none.
fn inherited() -> io::Result<Vec<Listener>> {
    let mut passed = ListenFd::from_env();
    let mut listeners = Vec::with_capacity(passed.len());
    for index in 0..passed.len() {
        let listener = match passed.take_tcp_listener(index) {
            Ok(Some(listener)) => Listener::Tcp(listener),
            Ok(None) => continue,
            Err(_) => match passed.take_unix_listener(index) {
                Ok(Some(listener)) => Listener::Unix(listener),
                Ok(None) => continue,
                Err(_) => match passed.take_udp_socket(index)? {
                    Some(socket) => Listener::Udp(socket),
                    None => continue,
                },
            },
        };
        listeners.push(listener);
    }
    Ok(listeners)
}

/// A Unix socket file this process created; removed when dropped.
#[derive(Debug)]
pub struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_file(&self.0) {
            warn!("cannot remove {}: {error}", self.0.display());
        }
    }
}

/// Listens on a Unix socket at `path`, with permissions `mode` from the start. A
/// socket file nothing accepts on any more (a process that was killed) is replaced;
/// a live one, or a file that is not a socket, is an error.
pub fn bind_unix(path: &Path, mode: u32, backlog: u32) -> io::Result<(UnixListener, SocketFile)> {
    if let Ok(metadata) = fs::symlink_metadata(path) {
        if !metadata.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ));
        }
        match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process is listening on this socket",
                ));
            }
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                info!("replacing the stale socket {}", path.display());
                fs::remove_file(path)?;
            }
            Err(error) => return Err(error),
        }
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    // The umask makes the file's permissions `mode` as it is created, so that no
    // one else can connect before a chmod.
    let previous = rustix::process::umask(Mode::from_bits_truncate(!mode & 0o777));
    let bound = socket.bind(&SockAddr::unix(path)?);
    rustix::process::umask(previous);
    bound?;
    let file = SocketFile(path.to_owned());
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok((socket.into(), file))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for one test, removed when the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("smol-toy-bind-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let scratch = Scratch::new("stale");
        let path = scratch.0.join("toy.sock");
        let (live, file) = bind_unix(&path, 0o660, 16).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let error = bind_unix(&path, 0o660, 16).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{error}");
        // Closing the listener leaves the file behind, as a killed process does.
        drop(live);
        std::mem::forget(file);
        assert!(path.exists());
        let (_listener, file) = bind_unix(&path, 0o600, 16).expect("replaces the stale file");
        drop(file);
        assert!(!path.exists(), "removed at drop");
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_left_alone() {
        let scratch = Scratch::new("regular");
        let path = scratch.0.join("toy.sock");
        fs::write(&path, "data").unwrap();
        let error = bind_unix(&path, 0o660, 16).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&path).unwrap(), "data");
    }
}
