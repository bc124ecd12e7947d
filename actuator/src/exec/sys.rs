//! The few libc calls the local agent needs: killing a process group and
//! resolving user and group names (through NSS, like `getent`).

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::ptr;

/// Sends SIGKILL to every process in process group `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: killpg has no memory-safety preconditions; pgid > 1 so it
    // cannot target our own group (0) or every process (-1 / 1).
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

/// Largest buffer tried for a passwd/group entry.
const MAX_BUF: usize = 1 << 20;

/// The uid of user `name`, `None` if there is no such user.
pub(crate) fn user_id(name: &str) -> io::Result<Option<u32>> {
    lookup(name, libc::getpwnam_r, |p: &libc::passwd| p.pw_uid)
}

/// The gid of group `name`, `None` if there is no such group.
pub(crate) fn group_id(name: &str) -> io::Result<Option<u32>> {
    lookup(name, libc::getgrnam_r, |g: &libc::group| g.gr_gid)
}

/// The reentrant name lookups (`getpwnam_r`, `getgrnam_r`) share one calling convention: entry,
/// string buffer (grown on ERANGE), result pointer.
type NamLookup<E> = unsafe extern "C" fn(
    *const libc::c_char,
    *mut E,
    *mut libc::c_char,
    libc::size_t,
    *mut *mut E,
) -> libc::c_int;

fn lookup<E>(name: &str, call: NamLookup<E>, id: impl Fn(&E) -> u32) -> io::Result<Option<u32>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        let mut entry = MaybeUninit::<E>::uninit();
        let mut result: *mut E = ptr::null_mut();
        // SAFETY: all pointers are valid for the call; buf.len() is its size.
        let rc = unsafe {
            call(
                cname.as_ptr(),
                entry.as_mut_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < MAX_BUF {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: a non-null result points at `entry`, now initialised.
        return Ok(Some(id(unsafe { &*result })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_root_and_rejects_unknown_names() {
        assert_eq!(user_id("root").unwrap(), Some(0));
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(user_id("no-such-user-actuator").unwrap(), None);
        assert_eq!(group_id("no-such-group-actuator").unwrap(), None);
        assert_eq!(user_id("nul\0byte").unwrap(), None);
    }
}
