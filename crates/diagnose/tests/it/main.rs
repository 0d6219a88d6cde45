//! Integration tests of `diagnose`: real access logs in, groups and rules out.

mod causes;
mod diagnose;
mod pasted;
mod threads;
