//! The fake DNS server and the egress firewall whose allow entries expire like ipset timeouts.
