//! Set elements written straight to the kernel over netlink (nfnetlink, subsystem nf_tables):
//! the batch `nft -f` sends for `add element`, `delete element`, `add element`, one
//! transaction acknowledged before [`Netlink::replace_elements`] returns, without starting a
//! process — as a resolver writes its ipset on the answer path.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use crate::allow::AllowKey;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NLMSG_MIN_TYPE`: the first type after netlink's own.
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_DATA_VALUE: u16 = 1;
const NLA_F_NESTED: u16 = 1 << 15;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 0x2;
const NFPROTO_UNSPEC: u8 = 0;
const NFPROTO_IPV4: u8 = 2;
/// `struct nlmsghdr` followed by `struct nfgenmsg`.
const HEADERS: usize = 16 + 4;
/// The longest a write waits for the kernel's acknowledgements (it sends them before the
/// write's `sendto` returns).
const ACK_WAIT: Duration = Duration::from_secs(1);

/// A netlink socket to nf_tables, in the network namespace of the thread that opened it.
#[derive(Debug)]
pub(super) struct Netlink {
    fd: OwnedFd,
    /// The next sequence number; held for a whole exchange, so acknowledgements never mix.
    seq: Mutex<u32>,
}

impl Netlink {
    /// Open the socket.
    pub(super) fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2); the descriptor is owned from here on.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let timeout = libc::timeval {
            tv_sec: ACK_WAIT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: the option value is a valid `timeval` of the size given.
        let set = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if set != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            fd,
            seq: Mutex::new(1),
        })
    }

    /// Replace `elements` (each with its timeout in milliseconds) in `set` of `ip` table
    /// `table`: add, delete, add, in one transaction. Returns once the kernel has committed
    /// it, or with the first error it reported.
    pub(super) fn replace_elements(
        &self,
        table: &str,
        set: &str,
        elements: &[(AllowKey, u64)],
    ) -> io::Result<()> {
        let mut seq = self.seq.lock().expect("netlink lock");
        let first = *seq;
        let batch = replace_batch(table, set, elements, first);
        *seq = first.wrapping_add(5);
        self.send(&batch)?;
        // The three element messages ask for an acknowledgement; an error may come for any.
        let mut unacked: Vec<u32> = (1..=3).map(|i| first.wrapping_add(i)).collect();
        let ours = |s: u32| s.wrapping_sub(first) < 5;
        let mut buf = vec![0u8; 16 * 1024];
        while !unacked.is_empty() {
            let n = self.recv(&mut buf)?;
            for (seq, error) in acks(&buf[..n]).filter(|(s, _)| ours(*s)) {
                if error != 0 {
                    return Err(io::Error::from_raw_os_error(-error));
                }
                unacked.retain(|s| *s != seq);
            }
        }
        Ok(())
    }

    fn send(&self, batch: &[u8]) -> io::Result<()> {
        // SAFETY: an all-zero `sockaddr_nl` is valid; the kernel is port 0.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: the buffer and the address are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                batch.as_ptr().cast(),
                batch.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        match sent {
            n if n < 0 => Err(io::Error::last_os_error()),
            n if n as usize != batch.len() => Err(io::Error::other("netlink batch sent in part")),
            _ => Ok(()),
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: the buffer is valid for its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no acknowledgement from the kernel within {ACK_WAIT:?}"),
                    ))
                }
                _ => return Err(e),
            }
        }
    }
}

/// The batch replacing `elements`: begin, add (so that the delete finds every element, whatever
/// the kernel held), delete, add with the timeouts, end; sequence numbers `first`..`first + 4`.
fn replace_batch(table: &str, set: &str, elements: &[(AllowKey, u64)], first: u32) -> Vec<u8> {
    let mut b = Vec::new();
    let subsystem = NFNL_SUBSYS_NFTABLES << 8;
    let request = NLM_F_REQUEST | NLM_F_ACK;
    message(
        &mut b,
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        first,
        NFPROTO_UNSPEC,
        NFNL_SUBSYS_NFTABLES,
        |_| {},
    );
    let steps = [
        (NFT_MSG_NEWSETELEM, request | NLM_F_CREATE, true),
        (NFT_MSG_DELSETELEM, request, false),
        (NFT_MSG_NEWSETELEM, request | NLM_F_CREATE, true),
    ];
    for (i, (kind, flags, with_timeout)) in (1..).zip(steps) {
        message(
            &mut b,
            subsystem | kind,
            flags,
            first.wrapping_add(i),
            NFPROTO_IPV4,
            0,
            |b| {
                attr(b, NFTA_SET_ELEM_LIST_TABLE, &c_string(table));
                attr(b, NFTA_SET_ELEM_LIST_SET, &c_string(set));
                nested(b, NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
                    for (key, timeout_ms) in elements {
                        nested(b, NFTA_LIST_ELEM, |b| {
                            nested(b, NFTA_SET_ELEM_KEY, |b| {
                                attr(b, NFTA_DATA_VALUE, &key_bytes(*key))
                            });
                            if with_timeout {
                                attr(b, NFTA_SET_ELEM_TIMEOUT, &timeout_ms.to_be_bytes());
                            }
                        });
                    }
                });
            },
        );
    }
    message(
        &mut b,
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        first.wrapping_add(4),
        NFPROTO_UNSPEC,
        NFNL_SUBSYS_NFTABLES,
        |_| {},
    );
    b
}

/// An `ipv4_addr . inet_service` key: each field in network order, padded to 32 bits.
fn key_bytes(key: AllowKey) -> [u8; 8] {
    let [a, b, c, d] = key.ip.octets();
    let [p, q] = key.port.to_be_bytes();
    [a, b, c, d, p, q, 0, 0]
}

fn c_string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Append one netlink message: header, `nfgenmsg` (`res_id` in network order), then `body`.
fn message(
    b: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    body: impl FnOnce(&mut Vec<u8>),
) {
    let start = b.len();
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&[family, 0]);
    b.extend_from_slice(&res_id.to_be_bytes());
    debug_assert_eq!(b.len() - start, HEADERS);
    body(b);
    let len = (b.len() - start) as u32;
    b[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Append an attribute, padded to 32 bits.
fn attr(b: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    b.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(payload);
    b.resize(b.len().next_multiple_of(4), 0);
}

/// Append a nested attribute holding what `body` appends.
fn nested(b: &mut Vec<u8>, kind: u16, body: impl FnOnce(&mut Vec<u8>)) {
    let start = b.len();
    b.extend_from_slice(&[0; 4]);
    body(b);
    let len = (b.len() - start) as u16;
    b[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    b[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
}

/// The `(sequence number, error)` of every `NLMSG_ERROR` message in `buf` (error 0: an
/// acknowledgement).
fn acks(buf: &[u8]) -> impl Iterator<Item = (u32, i32)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || loop {
        let header = buf.get(at..at + 16)?;
        let len = u32::from_ne_bytes(header[0..4].try_into().ok()?) as usize;
        if len < 16 {
            return None;
        }
        let kind = u16::from_ne_bytes(header[4..6].try_into().ok()?);
        let seq = u32::from_ne_bytes(header[8..12].try_into().ok()?);
        let error = buf.get(at + 16..at + 20);
        at += len.next_multiple_of(4);
        if kind == NLMSG_ERROR {
            return Some((seq, i32::from_ne_bytes(error?.try_into().ok()?)));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attribute header: length, type.
    fn nla(len: u16, kind: u16) -> Vec<u8> {
        [len.to_ne_bytes(), kind.to_ne_bytes()].concat()
    }

    /// The messages of `batch`.
    fn split(batch: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < batch.len() {
            let len = u32::from_ne_bytes(batch[at..at + 4].try_into().unwrap()) as usize;
            out.push(&batch[at..at + len]);
            at += len;
        }
        out
    }

    #[test]
    fn the_batch_replaces_the_elements_as_nft_sends_them() {
        let key = AllowKey {
            ip: [127, 0, 0, 2].into(),
            port: 4000,
        };
        let batch = replace_batch("t", "allow", &[(key, 120)], 7);
        let messages = split(&batch);
        // Type, flags, sequence number and `nfgenmsg` of each: begin, add, delete, add, end;
        // the kernel acknowledges the three element messages.
        let heads: Vec<(u16, u16, u32, [u8; 4])> = messages
            .iter()
            .map(|m| {
                let kind = u16::from_ne_bytes(m[4..6].try_into().unwrap());
                let flags = u16::from_ne_bytes(m[6..8].try_into().unwrap());
                let seq = u32::from_ne_bytes(m[8..12].try_into().unwrap());
                (kind, flags, seq, m[16..20].try_into().unwrap())
            })
            .collect();
        let (begin_end, ipv4) = ([0, 0, 0, 10], [2, 0, 0, 0]);
        assert_eq!(
            heads,
            [
                (0x10, 0x1, 7, begin_end),
                (0x0a0c, 0x405, 8, ipv4),
                (0x0a0e, 0x5, 9, ipv4),
                (0x0a0c, 0x405, 10, ipv4),
                (0x11, 0x1, 11, begin_end)
            ]
        );
        // What `nft --debug=netlink` shows for `delete element ip t allow { 127.0.0.2 . 4000 }`.
        let key_value = [0x7f, 0, 0, 2, 0x0f, 0xa0, 0, 0];
        let delete = [
            nla(6, 1),
            b"t\0\0\0".to_vec(),
            nla(10, 2),
            b"allow\0\0\0".to_vec(),
            nla(24, 0x8003),
            nla(20, 0x8001),
            nla(16, 0x8001),
            nla(12, 1),
            key_value.to_vec(),
        ]
        .concat();
        assert_eq!(&messages[2][HEADERS..], &delete[..]);
        // The adds also carry the timeout, milliseconds big-endian, in each element.
        let add = [
            &delete[..20],
            &nla(36, 0x8003),
            &nla(32, 0x8001),
            &nla(16, 0x8001),
            &nla(12, 1),
            &key_value,
            &nla(12, 4),
            &120u64.to_be_bytes(),
        ]
        .concat();
        assert_eq!(&messages[1][HEADERS..], &add[..]);
        assert_eq!(messages[3][HEADERS..], messages[1][HEADERS..]);
    }

    #[test]
    fn acknowledgements_and_errors_are_read_by_sequence_number() {
        let mut buf = Vec::new();
        for (seq, error) in [(3u32, 0i32), (4, -17)] {
            buf.extend_from_slice(&36u32.to_ne_bytes());
            buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            buf.extend_from_slice(&0u16.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&error.to_ne_bytes());
            buf.extend_from_slice(&[0; 16]);
        }
        assert_eq!(acks(&buf).collect::<Vec<_>>(), [(3, 0), (4, -17)]);
    }
}
