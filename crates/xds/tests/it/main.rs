//! Integration tests of the control plane.

mod ads;
mod delta;
mod mtls;
mod support;
