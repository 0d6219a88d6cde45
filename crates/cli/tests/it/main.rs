//! End-to-end tests of the `mesh5xx` binary: real Envoy, real processes, real sockets.

mod catalog;
mod contracts;
mod hygiene;
mod netns;
mod repeats;
mod scenarios;
mod support;
