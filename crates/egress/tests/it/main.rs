//! Integration tests of the egress process: its DNS server against real clients, the userspace firewall, and the nftables backend in private network namespaces.

mod common;
mod dns;
mod firewall;
mod nftables;
