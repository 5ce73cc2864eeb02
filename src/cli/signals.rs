//! Signals: the first SIGINT or SIGTERM stops new arrivals and lets in-flight requests drain;
//! the second exits at once (code 130).

use std::sync::Arc;

use tokio::sync::watch;

use crate::engine::runner::Stop;

/// Watches for signals and drives `stop`: the first sets [`Stop::NoNewArrivals`], the second exits
/// the process.
pub fn spawn_handler(stop: Arc<watch::Sender<Stop>>) {
    tokio::spawn(async move {
        let mut signals = Signals::new();
        let mut count = 0;
        while signals.next().await {
            count += 1;
            if count == 1 {
                eprintln!("\nstopping: no new requests; in-flight ones get a grace period (Ctrl-C again to exit now)");
                stop.send_replace(Stop::NoNewArrivals);
            } else {
                eprintln!("exiting now; the records file holds every request finished so far");
                std::process::exit(130);
            }
        }
    });
}

/// SIGINT and (on Unix) SIGTERM as one stream.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    /// Waits for the next signal; false if signals cannot be watched.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        if let Some(t) = self.term.as_mut() {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                r = t.recv() => r.is_some(),
            };
        }
        tokio::signal::ctrl_c().await.is_ok()
    }
}
