//! The toy app server: keep-alive recycling (idle close, max requests with graceful/abrupt/drop, lifetime), delays, injected statuses, down/up schedule.
