//! Who is asking, from the kernel rather than from the caller: the socket
//! peer's uid (`SO_PEERCRED`) or an inbox file's owner. `$USER` is not
//! trusted.

use std::ffi::CStr;

use super::wire::is_unsafe_char;

/// A caller as the kernel names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    /// The user name, or `uid1000` when the user database has none.
    pub name: String,
}

impl Caller {
    pub fn from_uid(uid: u32) -> Caller {
        let name = user_name(uid).unwrap_or_else(|| format!("uid{uid}"));
        Caller { uid, name }
    }

    /// The actor recorded in the journal: `cli:alice`, extended (never
    /// replaced) by the caller's label: `cli:alice (agent: billing-bot)`.
    pub fn actor(&self, label: Option<&str>) -> crate::request::Actor {
        crate::request::Actor::Cli {
            user: self.name.clone(),
            agent: label.map(String::from),
        }
    }
}

/// The user name of `uid` (getpwuid_r), if it has a printable one.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: an all-zero passwd is a valid value to be overwritten.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the given length; the strings
        // it sets point into `buf`, which outlives their use below.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string in `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) }.to_str().ok()?;
        let printable = !name.is_empty() && !name.chars().any(is_unsafe_char);
        return printable.then(|| name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_extends_the_identity_never_replaces_it() {
        let c = Caller {
            uid: 1000,
            name: "alice".into(),
        };
        assert_eq!(c.actor(None).to_string(), "cli:alice");
        assert_eq!(
            c.actor(Some("billing-bot")).to_string(),
            "cli:alice (agent: billing-bot)"
        );
    }

    #[test]
    fn root_has_a_name_and_an_unknown_uid_a_number() {
        assert_eq!(Caller::from_uid(0).name, "root");
        assert_eq!(Caller::from_uid(3_999_999_999).name, "uid3999999999");
    }
}
