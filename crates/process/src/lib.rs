//! Child processes of the lab.
//!
//! Every lab process (toy upstream, load generator, egress) binds port 0 and
//! announces itself with one line on stdout:
//!
//! ```text
//! MESH5XX-READY {"addr":"127.0.0.1:41234"}
//! ```
//!
//! [`announce_ready`] prints that line; [`Supervised`] spawns a child, waits
//! for the line with a timeout, keeps the rest of its output in a log file,
//! stops it with SIGTERM (then SIGKILL) and kills it on `Drop`. Children also
//! receive SIGKILL when the process that spawned them dies, even by `kill -9`
//! (Linux parent-death signal). [`netns`] gives a run a private network namespace and enters
//! pods' namespaces; [`identity`] sets the group a child runs as.

mod cache;
pub mod identity;
pub mod netns;
mod ready;
mod signal;
mod supervised;

pub use cache::{cache_dir, installed_once};
pub use ready::{announce_ready, parse_ready_line, READY_PREFIX};
pub use signal::stop_signal;
pub use supervised::{ProcessError, Supervised};
