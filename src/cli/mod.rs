//! The top floor: command-line flags ([`args`]), the subcommands ([`app`]), runs described by
//! flags alone ([`flagrun`]), `init`, and the live progress view.
pub mod app;
pub mod args;
pub mod flagrun;
pub mod init;
pub mod progress;
