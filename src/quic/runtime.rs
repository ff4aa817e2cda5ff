//! quinn's runtime, written over smol-toy's own: quinn's endpoint and connection
//! drivers run as tasks on the server's executor beside the connections, its
//! timers are async-io's, and its UDP sockets are registered with async-io's
//! reactor and read and written through quinn-udp (GSO, GRO, ECN where the kernel
//! has them).

use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_io::{Async, Timer};
use log::debug;
use quinn::udp::{RecvMeta, Transmit, UdpSocketState};
use quinn::{AsyncTimer, AsyncUdpSocket, Runtime, UdpPoller};
use smol::Executor;

/// Runs quinn's tasks on `executor`.
pub struct OnExecutor {
    pub executor: Arc<Executor<'static>>,
}

impl fmt::Debug for OnExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnExecutor")
    }
}

impl Runtime for OnExecutor {
    fn new_timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>> {
        Box::pin(QuicTimer {
            timer: Timer::at(at),
            armed: at,
            deadline: at,
        })
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        self.executor.spawn(future).detach();
    }

    fn wrap_udp_socket(&self, socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        Ok(Arc::new(QuicSocket::new(socket)?))
    }
}

/// A connection's timer. quinn moves its deadline at nearly every packet, mostly
/// later (the idle timeout, the next acknowledgement), and each move of an
/// async-io timer is a message to the reactor and a wake-up of its thread. This
/// one moves its async-io timer only earlier; when that fires before the deadline
/// now wanted, it is set once more, for that deadline.
#[derive(Debug)]
struct QuicTimer {
    timer: Timer,
    /// When the async-io timer fires.
    armed: Instant,
    /// When quinn wants to be woken.
    deadline: Instant,
}

impl AsyncTimer for QuicTimer {
    fn reset(mut self: Pin<&mut Self>, at: Instant) {
        self.deadline = at;
        if at < self.armed {
            self.armed = at;
            self.timer.set_at(at);
        }
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(Future::poll(Pin::new(&mut self.timer), cx));
            if self.deadline <= self.armed {
                return Poll::Ready(());
            }
            let deadline = self.deadline;
            self.armed = deadline;
            self.timer.set_at(deadline);
        }
    }
}

/// A UDP socket in async-io's reactor, with what quinn-udp knows of it.
#[derive(Debug)]
struct QuicSocket {
    io: Async<UdpSocket>,
    state: UdpSocketState,
    /// The last send found the kernel's buffer full: until the reactor says the
    /// socket is writable again, a sender waits.
    send_blocked: AtomicBool,
}

impl QuicSocket {
    fn new(socket: UdpSocket) -> io::Result<Self> {
        let state = UdpSocketState::new((&socket).into())?;
        Ok(QuicSocket {
            io: Async::new_nonblocking(socket)?,
            state,
            send_blocked: AtomicBool::new(false),
        })
    }
}

impl AsyncUdpSocket for QuicSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Writable(self))
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let sent = self.state.send((&self.io).into(), transmit);
        if matches!(&sent, Err(error) if error.kind() == io::ErrorKind::WouldBlock) {
            self.send_blocked.store(true, Ordering::Relaxed);
        }
        sent
    }

    /// Reads the datagrams that have come, and waits for more only when there are
    /// none: a wait is a round trip through the reactor. An error other than "no
    /// more now" (an ICMP error a client's packet caused, say) is passed over:
    /// quinn's endpoint would stop at it, and the socket is still good.
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buffers: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.state.recv((&self.io).into(), buffers, meta) {
                Ok(count) => return Poll::Ready(Ok(count)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.io.poll_readable(cx))?;
                }
                Err(error) => debug!("QUIC: reading a datagram failed: {error}"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    fn may_fragment(&self) -> bool {
        self.state.may_fragment()
    }

    fn max_transmit_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.state.gro_segments()
    }
}

/// What tells quinn that its socket can be written. quinn asks before every
/// datagram; a UDP socket can nearly always be, so the answer is yes unless the
/// last send found the buffer full, and only then a wait in the reactor (asking
/// the reactor each time cost a wake-up per datagram).
#[derive(Debug)]
struct Writable(Arc<QuicSocket>);

impl UdpPoller for Writable {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let socket = &self.0;
        if socket.send_blocked.load(Ordering::Relaxed) {
            ready!(socket.io.poll_writable(cx))?;
            socket.send_blocked.store(false, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}
