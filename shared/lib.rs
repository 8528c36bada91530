//! csd's shared library: the pieces every `csd-*` binary is built from.
//!
//! One module per concept: where workers live (`workerdir`), what a worker is
//! (`worker`), its events (`event`, `eventlog`), waking on change (`watch`),
//! tmux (`tmux`), names (`name`), the hook (`hook`), tunables (`knobs`), and
//! the exit-code contract (`error`, `cli`).

pub mod cli;
pub mod error;
pub mod harness;
pub mod event;
pub mod eventlog;
pub mod hook;
pub mod knobs;
pub mod name;
pub mod time;
pub mod wait;
pub mod tmux;
pub mod watch;
pub mod worker;
pub mod workerdir;

pub use error::{Error, Result};
