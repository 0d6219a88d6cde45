//! The load generator acting as the app: closed and open loop, keep-alive pool, response flags, HDR latencies, per-second timeline.
