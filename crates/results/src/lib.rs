//! The results contract: summary.json types, run directories and the before/after table.
