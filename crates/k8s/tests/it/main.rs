//! Integration tests of the Kubernetes mode: rendering, the install script, the outbound path and the summary built from collected logs.

mod install;
mod outbound;
mod render;
mod summary;
