//! csd-mcp: csd's commands as an MCP server on standard input and output
//! (rmcp, the official Rust SDK). Each tool runs a csd binary installed
//! beside this one with an argument vector, never a shell: the library
//! prints to stdout in places, and stdout here is the MCP transport, so no
//! csd code runs in this process but the interface declarations. Each
//! worker is a resource a client can subscribe to; a `csd-events --follow`
//! child per subscription pushes its turn ends.
//!
//! This is the one binary that links rmcp and tokio (the `mcp` feature).

#[path = "mcp/run.rs"]
mod run;
#[path = "mcp/server.rs"]
mod server;
#[path = "mcp/tools.rs"]
mod tools;

use csd::error::{Error, Result, EXIT_OK};
use csd::interface::spec::CSD_MCP;

fn main() -> ! {
    csd::cli::main_with("csd-mcp", run_cli)
}

fn run_cli(mut p: lexopt::Parser) -> Result<i32> {
    if let Some(arg) = p.next()? {
        if let Some(answer) = CSD_MCP.answer_common(&arg) {
            return answer;
        }
        return Err(arg.unexpected().into());
    }
    // The binaries the tools run: found now, so a broken install is one
    // error at start, not one per call.
    let dir = csd::cli::beside_me("csd-status")?.parent().map(std::path::PathBuf::from).unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io("starting the async runtime".into(), e))?;
    rt.block_on(server::serve(dir))?;
    Ok(EXIT_OK)
}
