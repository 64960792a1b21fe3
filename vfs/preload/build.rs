fn main() {
    // The library registers atexit/atfork handlers and VFS structs that
    // SQLite keeps pointers to: it must never be unloaded.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
