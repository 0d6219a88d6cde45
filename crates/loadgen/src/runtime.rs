//! The threads of `mesh5xx loadgen`: one single-threaded tokio runtime per thread, like
//! wrk's threads, so a worker's connection, timers and task stay on one thread (no
//! cross-thread wake-ups or work stealing on the hot path).

use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::oneshot;

/// The calling thread's runtime plus helper threads, each running its own runtime.
pub(crate) struct Runtimes {
    main: Runtime,
    helpers: Vec<Helper>,
}

struct Helper {
    handle: Handle,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

fn single_threaded() -> io::Result<Runtime> {
    Builder::new_current_thread().enable_all().build()
}

impl Runtimes {
    /// `threads` runtimes in all: the caller's and `threads - 1` helper threads.
    pub(crate) fn start(threads: usize) -> io::Result<Self> {
        let main = single_threaded()?;
        let helpers = (1..threads.max(1))
            .map(|i| {
                let (handle_tx, handle_rx) = std::sync::mpsc::channel();
                let (stop, stopped) = oneshot::channel::<()>();
                let thread = std::thread::Builder::new()
                    .name(format!("loadgen-{i}"))
                    .spawn(move || match single_threaded() {
                        Ok(runtime) => {
                            let _ = handle_tx.send(Ok(runtime.handle().clone()));
                            let _ = runtime.block_on(stopped);
                        }
                        Err(err) => {
                            let _ = handle_tx.send(Err(err));
                        }
                    })?;
                let handle = handle_rx
                    .recv()
                    .map_err(|_| io::Error::other("runtime thread exited"))??;
                Ok(Helper {
                    handle,
                    stop,
                    thread,
                })
            })
            .collect::<io::Result<_>>()?;
        Ok(Runtimes { main, helpers })
    }

    /// Run `make(handles)` to completion on the calling thread, where `handles` lists
    /// every runtime (the caller's first) for spreading tasks over the threads.
    pub(crate) fn block_on<F: Future>(&self, make: impl FnOnce(Vec<Handle>) -> F) -> F::Output {
        let handles = std::iter::once(self.main.handle().clone())
            .chain(self.helpers.iter().map(|helper| helper.handle.clone()))
            .collect();
        self.main.block_on(make(handles))
    }
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        for helper in self.helpers.drain(..) {
            let _ = helper.stop.send(());
            let _ = helper.thread.join();
        }
    }
}
