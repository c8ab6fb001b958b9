//! Compiles `proto/*.proto` with protox (pure Rust), so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let tracer = proto_dir.join("tracer.proto");
    println!("cargo:rerun-if-changed={}", proto_dir.display());

    let descriptors = protox::compile([&tracer], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Maps in sorted order, as Go's encoding/json prints them.
        .btree_map(".")
        .compile_fds(descriptors)?;
    Ok(())
}
