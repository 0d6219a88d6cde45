//! Integration tests of mesh5xx-iptables: rendered rules applied to a real kernel in new
//! network namespaces and read back, and a comparison with istio/istio's own golden files
//! when a checkout of it is at hand.

mod istio_golden;
mod kernel;
