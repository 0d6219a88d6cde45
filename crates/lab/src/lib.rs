//! The scenario runner: builds each variant's topology from real processes, drives load and records results.
