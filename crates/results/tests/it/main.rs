//! Integration tests of the results model: summaries of every schema version.

mod summary;
