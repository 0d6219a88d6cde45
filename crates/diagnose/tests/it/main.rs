//! Integration tests of `diagnose`: real access logs in, groups and rules out.

mod diagnose;
mod pasted;
