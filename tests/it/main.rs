//! One integration-test binary: the real `hitl` binary against real
//! temporary vaults.

mod agents2;
mod anchor;
mod bad_input;
mod cas;
mod checkpoint_trust;
mod cli;
mod cli_feel;
mod cli_feel_more;
mod crash;
mod dash;
mod dashboard;
mod done_by_month;
mod edges;
mod exec;
mod failpoints;
mod hooks;
mod invariants;
mod journal;
mod mcp;
mod note;
mod notify;
mod outcome;
mod perf_merge;
mod perfj;
mod perfv;
mod redteam;
mod redteam2;
mod service;
mod settled;
mod shell;
mod shell_faults;
mod stamps;
mod trust;
mod util;
mod vault;
