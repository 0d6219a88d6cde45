//! Network namespaces: a lab run that changes firewall rules does it in a network namespace
//! of its own, which has nothing but its own loopback interface ([`enter_private`]); a pod
//! is a namespace of its own too, which [`NetNs`] names, enters and connects into.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

/// Move the calling thread into a new network namespace and bring its loopback up.
///
/// Threads and processes started afterwards from this thread inherit the namespace; call it
/// before any other thread exists (first thing in `main`) to move the whole process. Needs
/// CAP_SYS_ADMIN (root).
pub fn enter_private() -> io::Result<()> {
    // SAFETY: unshare only changes the calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    loopback_up()
}

/// A network namespace, held open by a file descriptor (it lives at least as long as any
/// clone of this handle, or a process in it).
#[derive(Debug, Clone)]
pub struct NetNs {
    fd: Arc<OwnedFd>,
}

impl NetNs {
    /// The network namespace of process `pid` (`/proc/PID/ns/net`).
    pub fn of_process(pid: u32) -> io::Result<Self> {
        Self::open(&format!("/proc/{pid}/ns/net"))
    }

    /// The calling thread's network namespace.
    pub fn current() -> io::Result<Self> {
        Self::open("/proc/thread-self/ns/net")
    }

    fn open(path: &str) -> io::Result<Self> {
        let c = std::ffi::CString::new(path).expect("no NUL in a /proc path");
        // SAFETY: a plain open of a NUL-terminated path; the fd is owned below.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::other(format!(
                "{path}: {}",
                io::Error::last_os_error()
            )));
        }
        // SAFETY: fd was just opened and is not owned elsewhere.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd: Arc::new(fd) })
    }

    /// Start `cmd`'s process in this namespace (it joins it between fork and exec).
    pub fn enter_on_spawn(&self, cmd: &mut tokio::process::Command) {
        let fd = self.fd.clone();
        // SAFETY: setns is async-signal-safe; the fd stays open in the parent (the closure
        // holds a clone of the handle) until the child has exec'd.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Start `cmd`'s process in a new, empty network namespace of its own (it unshares
    /// between fork and exec); [`NetNs::of_process`] names it afterwards.
    pub fn new_on_spawn(cmd: &mut tokio::process::Command) {
        // SAFETY: unshare is async-signal-safe and changes only the child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Run `f` on a thread of its own inside this namespace (a child process `f` starts
    /// is in it too); waits for it.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.enter_this_thread().map(|()| f()))
                .join()
                .expect("a namespace thread does not panic")
        })
    }

    /// Like [`NetNs::run`], awaited without blocking the caller's runtime: `f` runs on a
    /// new thread (never one of the runtime's, which would stay in the namespace).
    pub async fn run_async<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        let ns = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(ns.enter_this_thread().map(|()| f()));
        });
        rx.await.map_err(io::Error::other)?
    }

    /// Move the calling thread into this namespace.
    fn enter_this_thread(&self) -> io::Result<()> {
        // SAFETY: setns only changes the calling thread's namespace; callers use threads
        // of their own.
        if unsafe { libc::setns(self.fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// A TCP connection to `addr` made from inside this namespace (e.g. to a pod's loopback).
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpStream> {
        let std = self
            .run_async(move || std::net::TcpStream::connect(addr))
            .await??;
        std.set_nonblocking(true)?;
        tokio::net::TcpStream::from_std(std)
    }

    /// Whether `other` names the same namespace.
    pub fn same_as(&self, other: &NetNs) -> io::Result<bool> {
        Ok(inode(&self.fd)? == inode(&other.fd)?)
    }
}

fn inode(fd: &OwnedFd) -> io::Result<(u64, u64)> {
    // SAFETY: fstat fills a zeroed stat for an open fd.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((st.st_dev, st.st_ino))
    }
}

/// The prefix of the names of the interfaces a run makes in its private namespace (the pod
/// network's bridge and veths).
pub const RUN_INTERFACE_PREFIX: &str = "m5";

/// Whether the calling thread's network namespace is private the way [`enter_private`] makes
/// one: no interface but loopback and the run's own ([`RUN_INTERFACE_PREFIX`]), so nothing
/// done in it reaches another machine (the machine's own namespace always has one more,
/// e.g. `eth0`).
pub fn is_private() -> io::Result<bool> {
    Ok(interfaces()?
        .iter()
        .all(|name| name == "lo" || name.starts_with(RUN_INTERFACE_PREFIX)))
}

/// The names of the interfaces in the calling thread's network namespace.
pub fn interfaces() -> io::Result<Vec<String>> {
    // SAFETY: if_nameindex returns an array ended by a zero entry, freed below.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mut names = Vec::new();
        let mut entry = list;
        while (*entry).if_index != 0 {
            names.push(
                std::ffi::CStr::from_ptr((*entry).if_name)
                    .to_string_lossy()
                    .into_owned(),
            );
            entry = entry.add(1);
        }
        libc::if_freenameindex(list);
        Ok(names)
    }
}

/// `ip link set lo up`, with the ioctls it uses.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain datagram socket, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data; the name is NUL-terminated within IFNAMSIZ.
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) != 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) != 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_namespace_has_a_working_loopback_of_its_own() {
        let outside = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = outside.local_addr().unwrap().port();
        // A thread of its own, so the test process keeps the machine's namespace.
        std::thread::spawn(move || {
            assert!(
                !is_private().unwrap(),
                "tests start in the machine's namespace"
            );
            enter_private().expect("unshare(CLONE_NEWNET) needs root");
            assert!(is_private().unwrap());
            // The machine's listener is not here; a new one on the same port is.
            let refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
            assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
            let inside = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
            std::net::TcpStream::connect(inside.local_addr().unwrap()).unwrap();
        })
        .join()
        .unwrap();
    }

    #[tokio::test]
    async fn a_namespace_is_entered_by_a_thread_a_child_and_a_connection() {
        let here = NetNs::current().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            enter_private().expect("unshare(CLONE_NEWNET) needs root");
            let inside = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send((NetNs::current().unwrap(), inside.local_addr().unwrap()))
                .unwrap();
            let _ = inside.accept().unwrap();
        });
        let (ns, addr) = rx.recv().unwrap();
        assert!(!ns.same_as(&here).unwrap());
        assert!(ns.run(is_private).unwrap().unwrap());
        assert!(ns
            .run(|| NetNs::current().unwrap())
            .unwrap()
            .same_as(&ns)
            .unwrap());
        // Outside, the address is another namespace's loopback: refused.
        assert!(std::net::TcpStream::connect(addr).is_err());
        ns.connect(addr).await.expect("connected from inside");
        holder.join().unwrap();

        let mut cmd = tokio::process::Command::new("readlink");
        cmd.arg("/proc/self/ns/net");
        ns.enter_on_spawn(&mut cmd);
        let out = cmd.output().await.unwrap();
        let link = |ns: &NetNs| {
            ns.run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
                .unwrap()
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            link(&ns).display().to_string()
        );
        let mut fresh = tokio::process::Command::new("readlink");
        fresh.arg("/proc/self/ns/net");
        NetNs::new_on_spawn(&mut fresh);
        let out = fresh.output().await.unwrap();
        let other = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_ne!(other, link(&ns).display().to_string());
        assert_ne!(other, link(&here).display().to_string());
    }
}
