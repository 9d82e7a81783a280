//! One integration-test binary: the real `hitl` binary against real
//! temporary vaults.

mod bad_input;
mod cli;
mod crash;
mod edges;
mod exec;
mod failpoints;
mod invariants;
mod journal;
mod note;
mod service;
mod util;
mod vault;
