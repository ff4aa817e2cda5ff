//! Coarse deadlines for the connections' waits for input: a timing wheel that one
//! task sweeps, instead of an `async_io::Timer` per wait.
//!
//! Every wait for a request head, a keep-alive wait and a linger has a deadline, and
//! almost none of them is reached. An async-io timer wakes the reactor thread each
//! time one is set (to let it recompute its sleep), which costs a system call and
//! often a context switch per wait. Here a deadline goes into the wheel's slot for
//! its tick under an uncontended lock, and is taken out when the wait ends; the
//! sweeper sleeps until the start of the first tick that holds a deadline, and
//! wakes the waits whose tick has come. A deadline is therefore met up to one tick
//! late, never early, and the tick is a small fraction of the shortest timeout.
//!
//! The application's waits (`/toy`'s second) use a wheel of their own with a finer
//! tick, [`TimingWheel::with_tick`] and [`TimingWheel::sleep_until`]: under load, the
//! waits ending in one tick share one wake-up of the reactor, and starting one wakes
//! nobody.
//!
//! Waits that need no such saving (the write timeout, the drain) use
//! [`with_deadline`], an async-io timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_io::Timer;
use event_listener::Event;
use pin_project_lite::pin_project;
use slab::Slab;
use smol::future::FutureExt;

/// The finest and coarsest ticks.
const MIN_TICK: Duration = Duration::from_millis(1);
const MAX_TICK: Duration = Duration::from_millis(100);
/// The tick is at most this fraction of the shortest timeout.
const TICKS_PER_TIMEOUT: u32 = 20;
/// Most slots in the wheel. A deadline further away than the wheel turns is woken
/// early, finds it is not due, and registers again.
const MAX_SLOTS: usize = 4096;

/// The wheel and its sweeper's wake-up call. A server has two: the connections' timeouts
/// and the application's timers (`Shared::timeouts`, `Shared::app_timers`).
#[derive(Debug)]
pub struct TimingWheel {
    /// [`sleep_until`](Self::sleep_until) uses an async-io timer.
    exact: bool,
    /// The tick in nanoseconds, so that finding a deadline's tick divides integers
    /// of 64 bits, not 128.
    tick_nanos: u64,
    origin: Instant,
    wheel: Mutex<Wheel>,
    /// Wakes the sweeper when a deadline comes in before the tick it sleeps until.
    registered: Event,
}

#[derive(Debug)]
struct Wheel {
    /// The waits, by the tick their deadline falls in, modulo the number of slots.
    slots: Vec<Slab<Entry>>,
    /// TimingWheel in the wheel.
    len: usize,
    /// The last tick swept.
    swept: u64,
    /// A deadline for a tick before this one wakes the sweeper: the tick it sleeps
    /// until, `u64::MAX` while the wheel is empty, 0 while the sweeper is awake.
    wake_sweeper_before: u64,
    /// Names the next entry: a slot's keys are reused, names are not.
    next_id: u64,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    waker: Waker,
}

/// Where a registered deadline sits: its slot, key and name.
#[derive(Debug, Clone, Copy)]
struct Key {
    slot: usize,
    key: usize,
    id: u64,
}

impl TimingWheel {
    /// A wheel fine enough for `shortest` and long enough for `longest`.
    pub fn new(shortest: Duration, longest: Duration) -> Self {
        let tick = (shortest / TICKS_PER_TIMEOUT).clamp(MIN_TICK, MAX_TICK);
        Self::with_tick(tick, longest)
    }

    /// A wheel of ticks of `tick` (between 1 and 100 ms) whose turn is at least
    /// `longest`. With a `tick` of zero, [`sleep_until`](Self::sleep_until) waits
    /// on an exact async-io timer instead of the wheel.
    pub fn with_tick(tick: Duration, longest: Duration) -> Self {
        let exact = tick.is_zero();
        let tick = tick.clamp(MIN_TICK, MAX_TICK);
        let turns = longest.as_nanos() / tick.as_nanos() + 2;
        let slots = usize::try_from(turns).unwrap_or(MAX_SLOTS).min(MAX_SLOTS);
        TimingWheel {
            exact,
            tick_nanos: u64::try_from(tick.as_nanos()).expect("at most 100 ms"),
            origin: Instant::now(),
            wheel: Mutex::new(Wheel {
                slots: (0..slots).map(|_| Slab::new()).collect(),
                len: 0,
                swept: 0,
                wake_sweeper_before: 0,
                next_id: 0,
            }),
            registered: Event::new(),
        }
    }

    /// How late a deadline may be met.
    #[cfg(test)]
    fn tick(&self) -> Duration {
        Duration::from_nanos(self.tick_nanos)
    }

    /// Runs `future` until `deadline`, if there is one: its output, or `None` if the
    /// deadline came first. `future` is polled first, so an output that is ready wins.
    pub fn run_until<F: Future>(&self, deadline: Option<Instant>, future: F) -> RunUntil<'_, F> {
        RunUntil {
            future,
            deadline,
            timing_wheel: self,
            key: None,
        }
    }

    /// Waits until `deadline`, or up to one tick after it.
    pub async fn sleep_until(&self, deadline: Instant) {
        if self.exact {
            Timer::at(deadline).await;
            return;
        }
        self.run_until(Some(deadline), std::future::pending::<()>())
            .await;
    }

    /// Wakes the waits whose deadline has come: sleeps until the start of the
    /// first tick that holds one, or until a deadline comes in before it. Runs
    /// until dropped.
    pub async fn sweep(&self) {
        loop {
            let (next, listener) = {
                let mut wheel = self.lock();
                let next = wheel.first_tick_held();
                wheel.wake_sweeper_before = next.unwrap_or(u64::MAX);
                // Listening under the lock: a deadline registered from now on
                // wakes it.
                (next, self.registered.listen())
            };
            match next {
                Some(tick) => {
                    let start = async {
                        Timer::at(self.start_of(tick)).await;
                    };
                    start.or(listener).await;
                }
                None => listener.await,
            }
            let due = self.ticks_since_origin(Instant::now());
            let woken = {
                let mut wheel = self.lock();
                wheel.wake_sweeper_before = 0;
                wheel.take_due(due)
            };
            woken.into_iter().for_each(Waker::wake);
        }
    }

    /// When `tick` starts.
    fn start_of(&self, tick: u64) -> Instant {
        self.origin + Duration::from_nanos(tick.saturating_mul(self.tick_nanos))
    }

    fn ticks_since_origin(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX) / self.tick_nanos
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wheel> {
        // The lock guards plain data and nothing panics while holding it.
        self.wheel
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `waker` to be woken at `deadline`'s tick, or updates it if `key`
    /// is still registered; returns where it sits.
    fn register(&self, deadline: Instant, waker: &Waker, key: Option<Key>) -> Key {
        let mut wheel = self.lock();
        if let Some(key) = key
            && let Some(entry) = wheel.slots[key.slot].get_mut(key.key)
            && entry.id == key.id
        {
            if !entry.waker.will_wake(waker) {
                entry.waker = waker.clone();
            }
            return key;
        }
        if wheel.len == 0 {
            // The sweeper may have slept: nothing is due before now.
            let now = self.ticks_since_origin(Instant::now());
            wheel.swept = wheel.swept.max(now);
        }
        // The tick after the one the deadline falls in, so that it is never early;
        // a tick already swept, or one further than the wheel turns, is not used.
        let slots = wheel.slots.len() as u64;
        let tick =
            (self.ticks_since_origin(deadline) + 1).clamp(wheel.swept + 1, wheel.swept + slots - 1);
        let slot = usize::try_from(tick % slots).expect("less than the slot count");
        let id = wheel.next_id;
        wheel.next_id += 1;
        let key = wheel.slots[slot].insert(Entry {
            id,
            waker: waker.clone(),
        });
        wheel.len += 1;
        let wake_sweeper = tick < wheel.wake_sweeper_before;
        if wake_sweeper {
            wheel.wake_sweeper_before = 0;
        }
        drop(wheel);
        if wake_sweeper {
            self.registered.notify(1);
        }
        Key { slot, key, id }
    }

    /// Takes a deadline out of the wheel, unless the sweeper has already.
    fn deregister(&self, key: Key) {
        let mut wheel = self.lock();
        if wheel.slots[key.slot]
            .get(key.key)
            .is_some_and(|entry| entry.id == key.id)
        {
            wheel.slots[key.slot].remove(key.key);
            wheel.len -= 1;
        }
    }
}

impl Wheel {
    /// The first tick after the last swept that holds a deadline, if any does.
    fn first_tick_held(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let slots = self.slots.len() as u64;
        (self.swept + 1..self.swept + slots)
            .find(|tick| !self.slots[usize::try_from(tick % slots).expect("a slot")].is_empty())
    }

    /// Takes out the wakers of every tick up to `due`.
    fn take_due(&mut self, due: u64) -> Vec<Waker> {
        let slots = self.slots.len() as u64;
        let mut woken = Vec::new();
        // A sweeper late by more than a turn sweeps each slot once.
        let from = self.swept.max(due.saturating_sub(slots)) + 1;
        for tick in from..=due {
            let slot = usize::try_from(tick % slots).expect("less than the slot count");
            woken.extend(self.slots[slot].drain().map(|entry| entry.waker));
        }
        self.len -= woken.len();
        self.swept = self.swept.max(due);
        woken
    }
}

pin_project! {
    /// The future of [`TimingWheel::run_until`].
    pub struct RunUntil<'a, F> {
        #[pin]
        future: F,
        deadline: Option<Instant>,
        timing_wheel: &'a TimingWheel,
        key: Option<Key>,
    }

    impl<F> PinnedDrop for RunUntil<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(key) = this.key.take() {
                this.timing_wheel.deregister(key);
            }
        }
    }
}

impl<F: Future> Future for RunUntil<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            return Poll::Ready(None);
        }
        *this.key = Some(this.timing_wheel.register(deadline, cx.waker(), *this.key));
        Poll::Pending
    }
}

/// Runs `future` until `deadline`: its output, or `None` if the deadline came first.
/// `future` is polled first, so an output that is ready wins over a passed deadline.
pub fn with_deadline<F: Future>(deadline: Instant, future: F) -> WithDeadline<F> {
    WithDeadline {
        future,
        timer: Timer::at(deadline),
    }
}

pin_project! {
    /// The future of [`with_deadline`].
    pub struct WithDeadline<F> {
        #[pin]
        future: F,
        timer: Timer,
    }
}

impl<F: Future> Future for WithDeadline<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        Pin::new(this.timer).poll(cx).map(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::future::FutureExt;

    fn sweeping<T>(timing_wheel: &TimingWheel, future: impl Future<Output = T>) -> T {
        smol::block_on(future.or(async {
            timing_wheel.sweep().await;
            unreachable!("the sweeper runs until dropped")
        }))
    }

    #[test]
    fn a_deadline_is_met_within_a_tick_never_before() {
        let timing_wheel = TimingWheel::new(Duration::from_millis(200), Duration::from_secs(1));
        assert_eq!(timing_wheel.tick(), Duration::from_millis(10));
        for wait in [0, 30, 150] {
            let started = Instant::now();
            let deadline = started + Duration::from_millis(wait);
            let waited = sweeping(
                &timing_wheel,
                timing_wheel.run_until(Some(deadline), std::future::pending::<()>()),
            );
            let took = started.elapsed();
            assert_eq!(waited, None);
            assert!(
                took >= Duration::from_millis(wait),
                "{wait} ms took {took:?}"
            );
            assert!(
                took < Duration::from_millis(wait + 60),
                "{wait} ms took {took:?}"
            );
        }
        assert_eq!(timing_wheel.lock().len, 0);
    }

    #[test]
    fn the_sweeper_sleeps_until_the_first_tick_that_holds_a_deadline() {
        let timing_wheel =
            TimingWheel::with_tick(Duration::from_millis(10), Duration::from_secs(1));
        let started = Instant::now();
        let far = started + Duration::from_millis(300);
        let looked = async {
            Timer::after(Duration::from_millis(100)).await;
            let wheel = timing_wheel.lock();
            (wheel.swept, wheel.wake_sweeper_before)
        };
        let sleeping = async {
            timing_wheel.sleep_until(far).await;
            None
        }
        .or(async { Some(looked.await) });
        let (swept, sleeps_until) = sweeping(&timing_wheel, sleeping).expect("looked first");
        // Ten ticks have passed; none was swept, and the sweeper waits for the tick
        // after the one the deadline falls in.
        assert_eq!(swept, 0, "the sweeper woke for empty ticks");
        assert_eq!(sleeps_until, timing_wheel.ticks_since_origin(far) + 1);
    }

    #[test]
    fn an_earlier_deadline_wakes_the_sweeper_that_sleeps_for_a_later_one() {
        let timing_wheel =
            TimingWheel::with_tick(Duration::from_millis(10), Duration::from_secs(1));
        let started = Instant::now();
        let far = timing_wheel.sleep_until(started + Duration::from_millis(500));
        let near = async {
            Timer::after(Duration::from_millis(20)).await;
            timing_wheel
                .sleep_until(started + Duration::from_millis(60))
                .await;
            started.elapsed()
        };
        let took = sweeping(
            &timing_wheel,
            async {
                far.await;
                Duration::MAX
            }
            .or(near),
        );
        assert!(took >= Duration::from_millis(60), "took {took:?}");
        assert!(took < Duration::from_millis(150), "took {took:?}");
    }

    #[test]
    fn without_a_tick_a_sleep_is_an_exact_timer_that_needs_no_sweeper() {
        let timing_wheel = TimingWheel::with_tick(Duration::ZERO, Duration::from_secs(1));
        let started = Instant::now();
        smol::block_on(timing_wheel.sleep_until(started + Duration::from_millis(30)));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(30), "took {took:?}");
        assert!(took < Duration::from_millis(60), "took {took:?}");
        assert_eq!(timing_wheel.lock().len, 0, "nothing went into the wheel");
    }

    #[test]
    fn an_output_that_comes_first_wins_and_leaves_nothing_behind() {
        let timing_wheel = TimingWheel::new(Duration::from_millis(200), Duration::from_secs(1));
        let later = Instant::now() + Duration::from_secs(5);
        let quick = async {
            Timer::after(Duration::from_millis(20)).await;
            7
        };
        assert_eq!(
            sweeping(&timing_wheel, timing_wheel.run_until(Some(later), quick)),
            Some(7)
        );
        assert_eq!(timing_wheel.lock().len, 0, "the deadline was taken out");
        let passed = Instant::now();
        assert_eq!(
            sweeping(
                &timing_wheel,
                timing_wheel.run_until(Some(passed), async { 7 })
            ),
            Some(7)
        );
    }

    #[test]
    fn a_deadline_beyond_a_turn_of_the_wheel_waits_its_whole_time() {
        // Three slots of 10 ms: a 100 ms deadline goes round more than once.
        let timing_wheel = TimingWheel::new(Duration::from_millis(200), Duration::from_millis(10));
        let started = Instant::now();
        let deadline = started + Duration::from_millis(100);
        let waited = sweeping(
            &timing_wheel,
            timing_wheel.run_until(Some(deadline), std::future::pending::<()>()),
        );
        assert_eq!(waited, None);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn a_key_reused_by_another_wait_is_not_taken_out() {
        let timing_wheel = TimingWheel::new(Duration::from_millis(200), Duration::from_secs(1));
        let at = Instant::now() + Duration::from_millis(500);
        let waker = Waker::noop();
        let first = timing_wheel.register(at, waker, None);
        // The sweeper takes the first out; a second wait gets the same slot and key.
        {
            let mut wheel = timing_wheel.lock();
            wheel.slots[first.slot].clear();
            wheel.len -= 1;
        }
        let second = timing_wheel.register(at, waker, None);
        assert_eq!((second.slot, second.key), (first.slot, first.key));
        timing_wheel.deregister(first);
        assert_eq!(timing_wheel.lock().len, 1, "the second is still registered");
        timing_wheel.deregister(second);
        assert_eq!(timing_wheel.lock().len, 0);
    }

    #[test]
    fn with_deadline_ends_a_wait_but_lets_a_ready_output_win() {
        let passed = Instant::now();
        let waited = smol::block_on(with_deadline(passed, std::future::pending::<()>()));
        assert_eq!(waited, None);
        assert_eq!(smol::block_on(with_deadline(passed, async { 7 })), Some(7));
        let later = Instant::now() + Duration::from_secs(5);
        let slow = async {
            Timer::after(Duration::from_millis(10)).await;
            7
        };
        assert_eq!(smol::block_on(with_deadline(later, slow)), Some(7));
    }
}
