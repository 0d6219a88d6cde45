//! Integration tests of the scenario catalog: each scenario's signature against real access logs.

mod signatures;
