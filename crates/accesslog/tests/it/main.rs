//! Integration tests of the access-log parser: the formats of every Istio era, and properties over generated lines.

mod formats;
mod properties;
