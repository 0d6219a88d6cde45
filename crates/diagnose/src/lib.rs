//! Reads istio-proxy access logs, groups the 5xx and names the scenario and the fix.
