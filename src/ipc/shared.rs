//! A socket shared with a group (`socket_group:`), for an agent run as its
//! own system user: the state folder stays 0700 (the agent can't read the
//! journal, the keys or the inbox), and the socket lives beside it in
//! `<state>.socket/` (0750, the group's), itself 0660. The agent can then
//! submit and wait; what it may decide is `approvers:`'s call, by its uid.

use std::ffi::CString;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The folder the shared socket is in: a sibling of the state folder.
pub fn dir(state_dir: &Path) -> PathBuf {
    let mut name = state_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "hitl".into());
    name.push(".socket");
    state_dir.with_file_name(name)
}

pub fn socket_path(state_dir: &Path) -> PathBuf {
    dir(state_dir).join("hitl.sock")
}

/// The group's id, from the group database.
pub fn group_id(name: &str) -> std::io::Result<u32> {
    let c = CString::new(name).map_err(std::io::Error::other)?;
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero group is a valid value to be overwritten.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the given length.
    let rc = unsafe {
        libc::getgrnam_r(
            c.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no group `{name}` (socket_group)"),
        ));
    }
    Ok(grp.gr_gid)
}

/// Makes the shared folder (0750, the group's); returns the socket's path.
pub fn prepare(state_dir: &Path, gid: u32) -> std::io::Result<PathBuf> {
    let d = dir(state_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(&d)?;
    std::os::unix::fs::chown(&d, None, Some(gid))?;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o750))?;
    Ok(d.join("hitl.sock"))
}

/// Gives the bound socket to the group, read-write.
pub fn share(sock: &Path, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(sock, None, Some(gid))?;
    std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o660))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_socket_is_beside_the_state_folder_not_in_it() {
        assert_eq!(
            socket_path(Path::new("/home/a/.local/state/hitl")),
            Path::new("/home/a/.local/state/hitl.socket/hitl.sock")
        );
        assert!(group_id("root").is_ok());
        assert!(group_id("no-such-group-hitl").is_err());
    }
}
