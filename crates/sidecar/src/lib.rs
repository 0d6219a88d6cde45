//! The sidecar: Envoy config rendered the way istiod would, Envoy provisioning from PyPI, and Envoy supervision.
