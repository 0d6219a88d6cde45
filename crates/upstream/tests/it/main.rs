//! End-to-end behaviour of the toy upstream over real sockets.

mod support;

mod down;
mod keepalive;
mod preface;
mod report;
mod responses;
mod server_first;
mod shutdown;
