//! Generates the model of `tests/large_model.rs` (2,000 infra components, a role per server, a task
//! per role) from the same generator the `model_scale` bench uses, so no large file is checked in.

#[path = "src/scale.rs"]
#[allow(dead_code)]
mod scale;

fn main() {
    println!("cargo:rerun-if-changed=src/scale.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::env::var_os("OUT_DIR").expect("OUT_DIR");
    let path = std::path::Path::new(&out).join("large_model.rs");
    std::fs::write(&path, scale::model_source(2000)).expect("write the large model");
}
