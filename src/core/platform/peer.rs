//! Who is on the other end of a Unix socket: the engine socket (coming) accepts only
//! connections from its own user. Linux: `getsockopt(SO_PEERCRED)` (unix(7)); macOS:
//! `getpeereid(3)`. Both report the credentials the peer had when it connected.

use std::os::fd::AsRawFd;

/// The effective user id of the process connected to `socket`.
pub fn peer_uid(socket: &impl AsRawFd) -> std::io::Result<u32> {
    imp::peer_uid(socket.as_raw_fd())
}

/// Whether the peer of `socket` runs as the same user as this process.
pub fn same_user(socket: &impl AsRawFd) -> bool {
    // SAFETY: getuid cannot fail.
    peer_uid(socket).is_ok_and(|uid| uid == unsafe { libc::getuid() })
}

#[cfg(target_os = "linux")]
mod imp {
    pub fn peer_uid(fd: i32) -> std::io::Result<u32> {
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `cred`.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(cred.uid)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    /// macOS and the BSDs.
    pub fn peer_uid(fd: i32) -> std::io::Result<u32> {
        let mut uid: libc::uid_t = 0;
        let mut gid: libc::gid_t = 0;
        // SAFETY: getpeereid writes one uid and one gid.
        if unsafe { libc::getpeereid(fd, &mut uid, &mut gid) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn peer_of_a_socket_pair_is_this_user() {
        let (a, b) = UnixStream::pair().unwrap();
        // SAFETY: getuid cannot fail.
        let me = unsafe { libc::getuid() };
        assert_eq!(peer_uid(&a).unwrap(), me);
        assert!(same_user(&b));
    }

    #[test]
    fn a_file_is_not_a_socket() {
        let f = tempfile::tempfile().unwrap();
        assert!(peer_uid(&f).is_err());
        assert!(!same_user(&f));
    }
}
