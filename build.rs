//! Rebuilds the crate when a migration is added or removed: `sqlx::migrate!` embeds the files
//! of `migrations/` at compile time, and cargo only tracks the files it already read.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
