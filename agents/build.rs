//! Gives every binary and test of this crate an rpath to libtorch, and records the library
//! folder so that CUDA support can be loaded at run time.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-env=POLYTASK_LIBTORCH_LIB={lib}");
    }
}
