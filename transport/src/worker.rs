//! A thread of the transport's own (`ringspan-export`, `ringspan-metrics`): one future on a
//! one-thread tokio runtime, told when to give up by a deadline, and waited for.
//!
//! The future gets a `watch` receiver that turns from `None` to `Some(deadline)` when
//! [`Worker::stop`] is called; it should finish what it can before the deadline and return.
//! The thread then leaves whatever the runtime still runs (connection tasks, a DNS lookup on
//! the blocking pool) to end on its own: waiting for a lookup of an unresponsive resolver
//! would outlast the deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::error::Error;

/// Extra time `stop` waits for the thread after the deadline.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// See the module docs.
pub(crate) struct Worker {
    stop: watch::Sender<Option<Instant>>,
    done: std::sync::mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// What a timed-out `stop` says did not finish, e.g. `exporter shutdown`.
    what: &'static str,
}

impl Worker {
    /// Starts thread `name` running `run` on `runtime` (built by the caller, who may have
    /// entered it to build a client); `what` names its shutdown in a timeout error.
    pub(crate) fn spawn<F, Fut>(
        name: &'static str,
        what: &'static str,
        runtime: tokio::runtime::Runtime,
        run: F,
    ) -> Result<Worker, Error>
    where
        F: FnOnce(watch::Receiver<Option<Instant>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (stop, stop_rx) = watch::channel(None);
        let (done_tx, done) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                runtime.block_on(run(stop_rx));
                runtime.shutdown_background();
                let _ = done_tx.send(());
            })
            .map_err(|e| Error::io(format!("starting the {name} thread"), e))?;
        Ok(Worker {
            stop,
            done,
            thread: Some(thread),
            what,
        })
    }

    /// Whether [`Worker::stop`] has seen the thread end.
    pub(crate) fn has_stopped(&self) -> bool {
        self.thread.is_none()
    }

    /// Tells the future to finish by `timeout` from now and waits for the thread (a second
    /// longer). Calling it again after it succeeded does nothing; after a call that timed
    /// out, it waits again.
    ///
    /// # Errors
    /// [`Error::is_timeout`] if the thread did not end in time.
    pub(crate) fn stop(&mut self, timeout: Duration) -> Result<(), Error> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout.min(Duration::from_secs(365 * 86400));
        let _ = self.stop.send(Some(deadline));
        match self.done.recv_timeout(timeout.saturating_add(EXIT_GRACE)) {
            // Disconnected: the thread ended without saying so (a panic).
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
                Ok(())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                // Not stopped: a later call waits again rather than report counts that may
                // still move.
                self.thread = Some(thread);
                Err(Error::timeout(self.what, timeout))
            }
        }
    }
}

/// Resolves when the shutdown deadline has passed (never, before shutdown begins).
pub(crate) async fn deadline(mut stop: watch::Receiver<Option<Instant>>) {
    loop {
        let at = *stop.borrow_and_update();
        if let Some(at) = at {
            tokio::time::sleep_until(at.into()).await;
            return;
        }
        if stop.changed().await.is_err() {
            // The handle is gone without a shutdown: there is no deadline.
            std::future::pending::<()>().await;
        }
    }
}
