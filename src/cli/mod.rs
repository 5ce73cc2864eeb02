//! The top floor: command-line flags ([`args`]), the dispatcher that runs one function per
//! subcommand and maps errors to exit codes ([`app`]), one module per subcommand, runs described
//! by flags alone ([`flagrun`]), signals and the live progress view.
//!
//! A subcommand's module turns flags and files into calls on the floors below (a
//! [`Session`](crate::engine::session::Session) for anything that sends load) and prints what
//! they return; procedures and policies live below.

/// Writes to stdout, ignoring a closed pipe (`llmload validate x | head -1` must not panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `out!` with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod app;
pub mod args;
pub mod baseline;
pub mod calibrate;
pub mod capacity;
pub mod check;
pub mod compare;
pub mod exit;
pub mod flagrun;
pub mod init;
pub mod manual;
pub mod merge;
pub mod mock;
pub mod progress;
pub mod repeat;
pub mod report;
pub mod run;
pub mod shared;
pub mod signals;
pub mod sweep;
pub mod validate;
