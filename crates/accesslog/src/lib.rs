//! Parser for istio-proxy and Envoy access logs: Istio TEXT before and after 1.9, Istio JSON, Envoy default.
