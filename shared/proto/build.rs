//! Compiles `proto/boost/**/*.proto` into OUT_DIR with a vendored protoc, so a
//! fresh machine needs no system protobuf package.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "boost/common/v1/event.proto",
        "boost/common/v1/record.proto",
        "boost/auth/v1/auth.proto",
        "boost/ingest/v1/ingest.proto",
        "boost/query/v1/query.proto",
        "boost/processor/v1/dead_letters.proto",
        "boost/processor/v1/processor.proto",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let descriptor = PathBuf::from(std::env::var("OUT_DIR")?).join("boost_descriptor.bin");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        // Undecodable requests answer INVALID_ARGUMENT, not tonic-prost's INTERNAL.
        .codec_path("crate::codec::BoostCodec")
        .file_descriptor_set_path(&descriptor)
        .compile_with_config(config, &paths, &[root])?;

    // The google.rpc error details, for reflection only (the Rust types come
    // from tonic-types): one file, without its imports, which the set above holds.
    let vendor = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vendor");
    let details = vendor.join("google/rpc/error_details.proto");
    println!("cargo:rerun-if-changed={}", details.display());
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("error_details_descriptor.bin");
    let status = std::process::Command::new(protoc_bin_vendored::protoc_bin_path()?)
        .arg(format!("--proto_path={}", vendor.display()))
        .arg(format!(
            "--proto_path={}",
            protoc_bin_vendored::include_path()?.display()
        ))
        .arg(format!("--descriptor_set_out={}", out.display()))
        .arg(&details)
        .status()?;
    if !status.success() {
        return Err(format!("protoc failed on {}: {status}", details.display()).into());
    }
    Ok(())
}
