//! Integration tests of the access-log parser: the formats of every Istio era, the pasted-line
//! corpus, and properties over generated lines.

mod formats;
mod pasted;
mod properties;
