//! Private network namespaces: a lab run that changes firewall rules does it in a network
//! namespace of its own, which has nothing but its own loopback interface.

use std::io;

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

/// Whether the calling thread's network namespace is private the way [`enter_private`] makes
/// one: no interface but loopback, so nothing done in it reaches another machine (the
/// machine's own namespace always has one more, e.g. `eth0`).
pub fn is_private() -> io::Result<bool> {
    Ok(interfaces()?.iter().all(|name| name == "lo"))
}

/// The names of the interfaces in the calling thread's network namespace.
fn interfaces() -> io::Result<Vec<String>> {
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
}
