//! Pods in real network namespaces on a real bridge, in a private namespace of the test's
//! own (a thread that unshared, running its own single-threaded runtime).

mod pods;
