//! csd's shared library: the pieces every `csd-*` binary is built from.
//!
//! One module per concept: where workers live (`workerdir`), what a worker is
//! (`worker`), its events (`event`, `eventlog`), waking on change (`watch`),
//! tmux (`tmux`), names (`name`), the hook (`hook`), tunables (`knobs`),
//! harnesses and how each is driven (`harness`), starting a worker
//! (`launch`, `consent`), giving it a prompt (`submit`), converse's
//! post-mortem (`diag`), a
//! turn and its markdown (`turn`), reading harness transcripts
//! (`transcript`), reading a file's lines backwards (`revlines`) and forwards
//! (`lines`), opening only regular files (`safefile`), what status and list
//! show of a worker (`status`) and the running counts they keep (`tally`:
//! the latest prompt's line, the tokens used), and the exit-code
//! contract (`error`, `cli`).

pub mod cli;
pub mod consent;
pub mod converse;
pub mod diag;
pub mod doctor;
pub mod error;
pub mod event;
pub mod eventlog;
pub mod fleet;
pub mod harness;
pub mod hook;
pub mod interface;
pub mod kind;
pub mod knobs;
pub mod launch;
pub mod lines;
pub mod mock;
pub mod name;
pub mod revlines;
pub mod safefile;
pub mod signals;
pub mod status;
pub mod stop;
pub mod submit;
pub mod tally;
pub mod time;
pub mod tmux;
pub mod transcript;
pub mod turn;
pub mod wait;
pub mod watch;
pub mod worker;
pub mod workerdir;

pub use error::{Error, Result};
