//! The mesh5xx command: run, list and explain scenarios, and the lab's own processes.
