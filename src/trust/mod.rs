//! What makes an approval trustworthy when the agent asking can write the
//! vault (DESIGN.md, "Trust"):
//!
//! - [`keys`]: the daemon's secrets in the state folder (0600): the key
//!   approval codes are derived with, and the authenticator app's secret.
//! - [`code`]: one-time approval codes, derived from the key, the request
//!   id, its payload hash and the approver: never stored, so never in the
//!   vault, the log or the journal.
//! - [`totp`]: RFC 6238 codes from an authenticator app.
//! - [`access`]: who may submit and who may decide by CLI, from the
//!   caller's uid as the kernel gives it.

pub mod access;
pub mod code;
pub mod keys;
pub mod totp;

pub use keys::{KeyError, Keys};
