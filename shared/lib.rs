//! csd's shared library: the pieces every `csd-*` binary is built from.
//!
//! One module per concept, lowest first: the exit-code contract (`error`,
//! `cli`), names (`name`), harness names (`kind`), where workers live
//! (`workerdir`), reading files safely (`safefile`, `lines`, `revlines`),
//! how a turn ended (`verdict`), events (`event`, `eventlog`), waking on
//! change (`watch`), signals (`signals`), child processes run to a deadline
//! (`bounded`), tmux (`tmux`), the process tree (`proctree`), what a worker
//! is (`worker`), the hook (`hook`), tunables (`knobs`), harnesses and how
//! each is driven (`harness`), transcripts and turns (`transcript`, `turn`);
//! then what is built on them: waiting (`wait`), giving a prompt (`submit`,
//! `converse`), answering a worker's question (`answer`), a git worktree per
//! worker (`worktree`), starting (`launch`, `consent`), ending (`stop`, and
//! `sweep` for what a worker started), status rows and token
//! tallies (`status`, `tally`), fleets (`fleet`), converse's post-mortem
//! (`diag`), the mock model servers (`mock`) and the self-test that drives
//! each installed harness against them (`doctor`), and every binary's
//! declared interface (`interface`). Lower modules never call up into
//! higher ones.

pub mod answer;
pub mod bounded;
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
pub mod paste;
pub mod process;
pub mod remote;
pub mod revlines;
pub mod safefile;
pub mod signals;
pub mod status;
pub mod stop;
pub mod submit;
pub mod sweep;
pub mod tally;
pub mod time;
pub mod tmux;
pub mod tokens;
pub mod transcript;
pub mod turn;
pub mod turn_reader;
pub mod verdict;
pub mod wait;
pub mod watch;
pub mod worker;
pub mod workerdir;
pub mod worktree;

pub use error::{Error, Result};
