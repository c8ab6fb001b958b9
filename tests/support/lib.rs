//! Support for tracekeep's end-to-end tests: start the real binaries, talk to
//! them over sockets, and drive crash loops against them.

pub mod cluster_crash;
pub mod crash;
pub mod harness;
pub mod seaweedfs;
pub mod soak;
pub mod zipkin;
