//! csd's shared library: the pieces every `csd-*` binary is built from, one
//! module per concept.
//!
//! The modules stand in layers, lowest first. A module uses only modules of
//! its own layer and the layers below it, and no two modules use each other
//! round a cycle: `tests/layers.rs` reads the list below and fails on any
//! import that breaks it, so a module added to the library must be placed
//! here.
//!
//! - layer base: error, cli, name, kind, time, knobs, lines, revlines, safefile, paste, tokens, signals, watch, bounded, process
//!   (exit codes and output; names; reading files that may be hostile;
//!   signals and waking on change; child processes run to a deadline; /proc)
//! - layer records: verdict, event, eventlog, workerdir, host, tmux, sweep, worker, turn, transcript
//!   (how a turn ended; events and their logs; where workers live, and
//!   the record of one on another machine; tmux; what a worker is; a turn,
//!   and the walk over a transcript)
//! - layer harness: harness
//!   (the `Harness` contract, the registry, and one folder per CLI)
//! - layer work: hook, turn_reader, wait, follow, submit, converse, answer, diag, consent, stop, tally, worktree, launch, status, fleet
//!   (what is done with workers: the hook, waiting, following events, giving a prompt,
//!   answering a question, starting, ending, status rows and fleets)
//! - layer remote: remote
//!   (reaching a host over OpenSSH: calls, the host's side, fleets across hosts)
//! - layer route: route
//!   (where a worker is, decided once: each binary's one way in)
//! - layer edge: interface, mock, doctor
//!   (every binary's declared interface and its generators; the mock model
//!   servers and the self-test that drives each harness against them: the
//!   core never uses these)

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
pub mod follow;
pub mod harness;
pub mod hook;
pub mod host;
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
pub mod route;
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
