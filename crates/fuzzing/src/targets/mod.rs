//! One module per fuzz target (registered in [`crate::TARGETS`]).

pub mod gctx;
pub mod h5ad;
pub mod h5ad_layout;
pub mod manifest;
pub mod npy;
pub mod pipeline;
pub mod results;
pub mod sql;
pub mod table;

use pertbench_data::dataset::DataContext;
use pertbench_data::fetch::FetchOptions;
use std::path::Path;

/// What `pertbench inspect` and `init` read of a screen file: its profile
/// (every column summarised) and the suggested column mapping.
pub(crate) fn inspect(path: &Path) {
    if let Ok(h) = pertbench_data::inspect::Inspected::open(path) {
        if let Ok(p) = h.profile() {
            let _ = pertbench_data::inspect::suggest(&p);
        }
    }
}

/// Loads the screen file `path` through a manifest of `format` with the
/// lines `fields` (columns, ...), pinned to the file's sha256, as a
/// pipeline's dataset: the samples, counts and genes.
pub(crate) fn load_screen(dir: &Path, path: &Path, format: &str, fields: &str) {
    let Ok(sha) = pertbench_data::fetch::sha256_file(path) else {
        return;
    };
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    let manifests = dir.join("manifests");
    let _ = std::fs::create_dir_all(&manifests);
    let text = format!(
        "name: fuzzed\nformat: {format}\nsource: {{file: {file}}}\nsha256: {sha}\n{fields}\n"
    );
    if std::fs::write(manifests.join("fuzzed.yaml"), text).is_err() {
        return;
    }
    let ctx = DataContext {
        manifest_dirs: vec![manifests],
        fetch: FetchOptions {
            mirrors: vec![dir.to_path_buf()],
            data_dir: dir.join("data"),
            allow_network: false,
            allow_unpinned: false,
        },
    };
    let _ = pertbench_data::dataset::load("fuzzed", &ctx);
}
