//! Integration tests of the control plane.

mod ads;
