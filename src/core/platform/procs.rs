//! Process discovery: which processes exist, a process's parent, and the environment it
//! was started with. Used to find what a workspace left running (a `setsid` daemon leaves
//! the process group it was started in but keeps `CONDUCTOR_WORKSPACE_ID`).
//!
//! Linux reads `/proc` (proc(5): `/proc/<pid>/stat`, `/proc/<pid>/environ`). macOS has no
//! `/proc`: `proc_listallpids` and `proc_pidinfo(PROC_PIDTBSDINFO)` from libproc, and
//! `sysctl {CTL_KERN, KERN_PROCARGS2, pid}` for the arguments and environment (the layout
//! `ps -E` reads; see `parse_procargs2`). Both only show other users' environments to root,
//! which is what we want: we only ever stop our own processes.

/// Every process id currently visible.
pub fn pids() -> Vec<i32> {
    imp::pids()
}

/// The parent of `pid`, or None when it is gone (or not visible).
pub fn parent(pid: i32) -> Option<i32> {
    imp::parent(pid)
}

/// The environment `pid` was started with, as `KEY=value` entries; None when it is gone
/// or not ours to read.
pub fn environ(pid: i32) -> Option<Vec<Vec<u8>>> {
    imp::environ(pid)
}

/// Whether `pid`'s environment holds `key=value`.
pub fn has_env(pid: i32, key: &str, value: &str) -> bool {
    let wanted = format!("{key}={value}");
    environ(pid).is_some_and(|env| env.iter().any(|e| e == wanted.as_bytes()))
}

/// Splits NUL-separated entries (the format of `/proc/<pid>/environ`), skipping empty ones.
pub fn split_nul(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The environment in a `KERN_PROCARGS2` buffer. Its layout (xnu `bsd/kern/kern_sysctl.c`,
/// as read by `ps`): a native `int` argc, the executable path with NUL padding, argc
/// NUL-terminated arguments, then the environment's NUL-terminated `KEY=value` strings,
/// ending at an empty string or the buffer's end. Plain bytes, so it is tested everywhere.
pub fn parse_procargs2(buf: &[u8]) -> Option<Vec<Vec<u8>>> {
    let argc_len = std::mem::size_of::<i32>();
    let argc = i32::from_ne_bytes(buf.get(..argc_len)?.try_into().ok()?);
    let mut rest = &buf[argc_len..];
    // The executable path, then the NULs that pad it.
    let end = rest.iter().position(|b| *b == 0)?;
    rest = &rest[end..];
    let start = rest.iter().position(|b| *b != 0).unwrap_or(rest.len());
    rest = &rest[start..];
    let mut strings = rest.split(|b| *b == 0);
    for _ in 0..argc.max(0) {
        strings.next()?;
    }
    Some(
        strings
            .take_while(|s| !s.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

#[cfg(target_os = "linux")]
mod imp {
    pub fn pids() -> Vec<i32> {
        std::fs::read_dir("/proc")
            .map(|dir| {
                dir.flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn parent(pid: i32) -> Option<i32> {
        // "pid (comm) state ppid …"; comm may hold spaces and parentheses: split after the
        // last ')'.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = &stat[stat.rfind(')')? + 1..];
        after.split_whitespace().nth(1)?.parse().ok()
    }

    pub fn environ(pid: i32) -> Option<Vec<Vec<u8>>> {
        let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        // A zombie (or a kernel thread) has an empty environment file.
        if bytes.is_empty() && parent(pid).is_none() {
            return None;
        }
        Some(super::split_nul(&bytes))
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use std::mem::{size_of, MaybeUninit};

    pub fn pids() -> Vec<i32> {
        // SAFETY: a null buffer asks only for the count; the second call writes at most
        // `buf.len()` ints into `buf`, and returns how many it wrote.
        unsafe {
            let n = libc::proc_listallpids(std::ptr::null_mut(), 0);
            if n <= 0 {
                return Vec::new();
            }
            let mut buf = vec![0i32; n as usize + 64];
            let bytes = (buf.len() * size_of::<i32>()) as libc::c_int;
            let got = libc::proc_listallpids(buf.as_mut_ptr().cast(), bytes);
            buf.truncate(got.max(0) as usize);
            buf.retain(|p| *p > 0);
            buf
        }
    }

    pub fn parent(pid: i32) -> Option<i32> {
        let mut info = MaybeUninit::<libc::proc_bsdinfo>::zeroed();
        let size = size_of::<libc::proc_bsdinfo>() as libc::c_int;
        // SAFETY: proc_pidinfo writes at most `size` bytes into `info` and returns how
        // many it wrote; anything short of the whole struct is treated as failure.
        let got = unsafe {
            libc::proc_pidinfo(
                pid,
                libc::PROC_PIDTBSDINFO,
                0,
                info.as_mut_ptr().cast(),
                size,
            )
        };
        if got != size {
            return None;
        }
        // SAFETY: fully written, checked above.
        Some(unsafe { info.assume_init() }.pbi_ppid as i32)
    }

    pub fn environ(pid: i32) -> Option<Vec<Vec<u8>>> {
        let mut argmax: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>();
        let mut mib = [libc::CTL_KERN, libc::KERN_ARGMAX];
        // SAFETY: sysctl writes one c_int into `argmax` (len says how big it is).
        let rc = unsafe {
            libc::sysctl(
                mib.as_mut_ptr(),
                2,
                (&mut argmax as *mut libc::c_int).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 || argmax <= 0 {
            return None;
        }
        // ARG_MAX is 1 MB on macOS: one buffer per thread, reused for every process of a
        // scan, instead of a fresh megabyte each.
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUF.with_borrow_mut(|buf| {
            buf.resize(argmax as usize, 0);
            let mut len = buf.len();
            let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, pid];
            // SAFETY: sysctl writes at most `len` bytes into `buf` and sets `len` to the
            // count it wrote.
            let rc = unsafe {
                libc::sysctl(
                    mib.as_mut_ptr(),
                    3,
                    buf.as_mut_ptr().cast(),
                    &mut len,
                    std::ptr::null_mut(),
                    0,
                )
            };
            if rc != 0 {
                return None;
            }
            super::parse_procargs2(&buf[..len.min(buf.len())])
        })
    }
}

/// Elsewhere (the BSDs): nothing is discovered, so nothing is stopped by environment.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod imp {
    pub fn pids() -> Vec<i32> {
        Vec::new()
    }

    pub fn parent(_pid: i32) -> Option<i32> {
        None
    }

    pub fn environ(_pid: i32) -> Option<Vec<Vec<u8>>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    fn procargs2(argc: i32, exe: &str, args: &[&str], env: &[&str]) -> Vec<u8> {
        let mut b = argc.to_ne_bytes().to_vec();
        b.extend_from_slice(exe.as_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        for s in args.iter().chain(env) {
            b.extend_from_slice(s.as_bytes());
            b.push(0);
        }
        b.extend_from_slice(&[0, 0]);
        b
    }

    #[test]
    fn procargs2_layout_gives_the_environment() {
        let buf = procargs2(
            2,
            "/bin/sleep",
            &["sleep", "30"],
            &["A=1", "CONDUCTOR_WORKSPACE_ID=ab12"],
        );
        let env = parse_procargs2(&buf).unwrap();
        assert_eq!(
            env,
            vec![b"A=1".to_vec(), b"CONDUCTOR_WORKSPACE_ID=ab12".to_vec()]
        );
        // No environment at all, and a truncated buffer.
        assert_eq!(
            parse_procargs2(&procargs2(1, "/x", &["x"], &[])).unwrap(),
            Vec::<Vec<u8>>::new()
        );
        assert!(parse_procargs2(&[1, 0]).is_none());
    }

    #[test]
    fn environ_parent_and_pids_of_a_setsid_child() {
        let mark = format!("t{}", std::process::id());
        let mut cmd = Command::new("sleep");
        cmd.arg("30").env("CONDUCTOR_TEST_MARK", &mark);
        // SAFETY: setsid is async-signal-safe; the child leaves our session and group,
        // as a daemon does.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let pid = child.id() as i32;
        // The environment is set at exec; wait (bounded) until the child has exec'd.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !has_env(pid, "CONDUCTOR_TEST_MARK", &mark) {
            assert!(std::time::Instant::now() < deadline, "never saw the mark");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(pids().contains(&pid));
        assert_eq!(parent(pid), Some(std::process::id() as i32));
        assert!(!has_env(pid, "CONDUCTOR_TEST_MARK", "other"));
        assert!(!has_env(
            std::process::id() as i32,
            "CONDUCTOR_TEST_MARK",
            &mark
        ));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            environ(pid).is_none(),
            "a reaped process has no environment"
        );
        assert_eq!(parent(pid), None);
    }
}
