//! Rebuilds the crate when a console asset is added or removed; edits to
//! existing assets are tracked already (include_dir embeds each file with
//! `include_bytes!`).

fn main() {
    for dir in ["assets", "../../clients/js/src"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
