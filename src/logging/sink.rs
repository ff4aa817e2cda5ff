//! Where log lines wait for stderr: a bounded buffer that one thread writes out, so
//! that no worker thread ever waits on stderr.
//!
//! A worker only appends a line to the buffer under a short lock. The writer thread
//! takes the whole buffer in one swap and writes it with the lock released. A sink
//! that stops reading (a paused terminal, a stuck journald or container log driver,
//! a `| tee` onto a slow disk) blocks only that thread. While it is blocked, lines
//! gather up to [`BUFFER_BYTES`]; a line that does not fit is dropped and counted
//! ([`dropped_lines`], the metric `smol_toy_log_lines_dropped_total`), as are lines
//! whose write fails (a reader that has gone: EPIPE). When a write goes through
//! again, one warning says how many lines were dropped, and over what span of time.
//!
//! Batches are written as nginx's `access_log ... buffer= flush=` does: when
//! [`BATCH_BYTES`] are waiting, [`FLUSH_INTERVAL`] after a batch's first line, at once
//! for a warning or an error, and at exit ([`Sink::flush`], bounded in time).

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// A batch this large is written at once.
pub const BATCH_BYTES: usize = 32 * 1024;
/// The longest a line waits in a batch while the sink keeps up.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// The most that waits for a stalled sink: 512 KiB, about 3,000 access lines. That
/// is a tenth of a second of lines at the highest rate measured here (36,000
/// requests a second), so a sink's hiccup loses nothing, while a stalled sink costs
/// at most twice this (the buffer and the batch being written), an eighth of an
/// idle server's memory.
pub const BUFFER_BYTES: usize = 512 * 1024;
/// How long [`Sink::flush`] waits for the lines at exit before dropping them.
pub const EXIT_GRACE: Duration = Duration::from_secs(1);

/// Lines dropped since the process started, for the metrics.
static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);

/// Log lines dropped since start: they did not fit while the sink was stalled, or
/// their write failed.
pub fn dropped_lines() -> u64 {
    DROPPED_LINES.load(Ordering::Relaxed)
}

thread_local! {
    /// Whether this thread writes the batches.
    static ON_WRITER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// The buffer, and the signals between the loggers, the writer thread and `flush`.
#[derive(Default)]
pub struct Sink {
    state: Mutex<State>,
    /// Wakes the writer thread: a batch started, filled, or is wanted at once.
    wake_writer: Condvar,
    /// Wakes `flush`: the writer thread finished a write.
    wrote: Condvar,
}

#[derive(Default)]
struct State {
    /// Lines waiting for the writer thread.
    waiting: Vec<u8>,
    /// A warning, an error or `flush` wants the waiting lines written now.
    urgent: bool,
    /// Lines the writer thread has taken and not yet written.
    lines_in_write: u64,
    /// Lines dropped since the last write that went through.
    stall: Option<Stall>,
}

/// Lines dropped while the sink was stalled, and when.
#[derive(Debug, Clone, Copy)]
pub struct Stall {
    pub lines: u64,
    pub first: SystemTime,
    pub last: SystemTime,
}

impl State {
    fn drop_lines(&mut self, lines: u64) {
        if lines == 0 {
            return;
        }
        DROPPED_LINES.fetch_add(lines, Ordering::Relaxed);
        let now = SystemTime::now();
        let stall = self.stall.get_or_insert(Stall {
            lines: 0,
            first: now,
            last: now,
        });
        stall.lines += lines;
        stall.last = now;
    }

    fn batch_due(&self) -> bool {
        self.urgent || self.waiting.len() >= BATCH_BYTES
    }
}

impl Sink {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds whole lines to the buffer, or drops them if they do not fit. The writer
    /// thread's own line (the stall's warning) is always taken, so that it is never
    /// dropped by the full buffer it reports on.
    pub fn append(&self, lines: &[u8]) {
        let mut state = self.lock();
        let before = state.waiting.len();
        if before + lines.len() > BUFFER_BYTES && !ON_WRITER_THREAD.get() {
            state.drop_lines(count_lines(lines));
            return;
        }
        state.waiting.extend_from_slice(lines);
        let after = state.waiting.len();
        if before == 0 || (before < BATCH_BYTES && after >= BATCH_BYTES) {
            self.wake_writer.notify_one();
        }
    }

    /// Asks for the waiting lines to be written now, without waiting for the write.
    pub fn hurry(&self) {
        self.lock().urgent = true;
        self.wake_writer.notify_one();
    }

    /// Gives the waiting lines up to `grace` to be written, then drops what is left.
    pub fn flush(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut state = self.lock();
        state.urgent = true;
        self.wake_writer.notify_one();
        while !state.waiting.is_empty() || state.lines_in_write > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let unwritten = count_lines(&state.waiting) + state.lines_in_write;
                state.waiting.clear();
                state.drop_lines(unwritten);
                return;
            }
            state = (self.wrote.wait_timeout(state, left))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Runs forever on the writer thread: takes each batch when it is due and writes
    /// it with `write`. After a write that went through following drops, calls
    /// `recovered` with the stall (outside the lock, so it may log).
    pub fn write_batches(
        &self,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
        recovered: impl Fn(Stall),
    ) -> ! {
        ON_WRITER_THREAD.set(true);
        let mut batch = Vec::with_capacity(BATCH_BYTES);
        loop {
            self.take_batch(&mut batch);
            let unwritten = write_lines(&batch, &mut write);
            let went_through = unwritten == 0 && !batch.is_empty();
            batch.clear();
            let mut state = self.lock();
            state.lines_in_write = 0;
            state.drop_lines(unwritten);
            let stall = if went_through {
                state.stall.take()
            } else {
                None
            };
            drop(state);
            self.wrote.notify_all();
            if let Some(stall) = stall {
                recovered(stall);
            }
        }
    }

    /// Waits until a batch is due, then swaps it into `batch` (which is empty).
    fn take_batch(&self, batch: &mut Vec<u8>) {
        let state = self.lock();
        let state = (self
            .wake_writer
            .wait_while(state, |state| state.waiting.is_empty() && !state.urgent))
        .unwrap_or_else(PoisonError::into_inner);
        let (mut state, _) =
            (self
                .wake_writer
                .wait_timeout_while(state, FLUSH_INTERVAL, |state| !state.batch_due()))
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut state.waiting, batch);
        state.urgent = false;
        state.lines_in_write = count_lines(batch);
    }
}

/// Writes `bytes` whole, waiting out a sink that is not ready (a non-blocking
/// stderr). Returns how many lines were not written: after an error, every line not
/// fully written, counting one the error cut.
fn write_lines(mut bytes: &[u8], write: &mut impl FnMut(&[u8]) -> io::Result<usize>) -> u64 {
    while !bytes.is_empty() {
        match write(bytes) {
            Ok(0) => break,
            Ok(written) => bytes = &bytes[written..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => break,
        }
    }
    count_lines(bytes)
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&byte| byte == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;

    /// A sink whose writer thread writes into a channel, after `accept` says the
    /// write may go through (it fails with `accept`'s error otherwise).
    fn sink_into(
        accept: impl Fn() -> io::Result<()> + Send + 'static,
    ) -> (Arc<Sink>, mpsc::Receiver<Vec<u8>>, mpsc::Receiver<Stall>) {
        let sink = Arc::new(Sink::default());
        let (written, writes) = mpsc::channel();
        let (stalled, stalls) = mpsc::channel();
        let writer = Arc::clone(&sink);
        thread::spawn(move || {
            writer.write_batches(
                |bytes| {
                    accept()?;
                    written.send(bytes.to_vec()).unwrap();
                    Ok(bytes.len())
                },
                |stall| stalled.send(stall).unwrap(),
            )
        });
        (sink, writes, stalls)
    }

    #[test]
    fn lines_arrive_whole_and_in_order() {
        let (sink, writes, _) = sink_into(|| Ok(()));
        for number in 0..10_000 {
            sink.append(format!("line {number}\n").as_bytes());
        }
        sink.flush(EXIT_GRACE);
        let text: Vec<u8> = writes.try_iter().flatten().collect();
        let expected: String = (0..10_000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(String::from_utf8(text).unwrap(), expected);
    }

    #[test]
    fn a_failed_write_drops_its_lines_and_a_later_one_reports_the_stall() {
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let failing = Arc::clone(&broken);
        let (sink, writes, stalls) = sink_into(move || match failing.load(Ordering::SeqCst) {
            true => Err(io::ErrorKind::BrokenPipe.into()),
            false => Ok(()),
        });
        sink.append(b"one\ntwo\n");
        sink.flush(EXIT_GRACE);
        assert!(stalls.try_recv().is_err(), "no write went through yet");
        broken.store(false, Ordering::SeqCst);
        sink.append(b"three\n");
        sink.flush(EXIT_GRACE);
        assert_eq!(writes.recv().unwrap(), b"three\n");
        let stall = stalls.recv_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(stall.lines, 2);
        assert!(stall.first <= stall.last);
    }

    #[test]
    fn a_stalled_sink_keeps_the_bound_and_flush_gives_up_in_time() {
        let (release, stalled) = mpsc::channel::<()>();
        let stalled = Mutex::new(stalled);
        let (sink, _writes, _) = sink_into(move || {
            let _ = stalled.lock().unwrap().recv();
            Ok(())
        });
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        let before = dropped_lines();
        let started = Instant::now();
        for _ in 0..20_000 {
            sink.append(&line);
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "appends never wait"
        );
        assert!(sink.lock().waiting.len() <= BUFFER_BYTES);
        let started = Instant::now();
        sink.flush(Duration::from_millis(200));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(1));
        // Every line was dropped: at append, or at the flush, waiting or in the write.
        assert_eq!(sink.lock().stall.unwrap().lines, 20_000);
        assert!(dropped_lines() - before >= 20_000);
        drop(release);
    }
}
