//! h5ad files, mutated byte by byte: what `pertbench inspect`/`init` read
//! (the profile of every column, the suggested mapping), then the screen
//! loaded through a manifest (obs columns, counts, genes) and every obsm
//! embedding, as a pipeline reads them.

use std::path::Path;

pub fn run(data: &[u8]) {
    let dir = crate::scratch::fresh("h5ad");
    let path = crate::scratch::file(&dir, "screen.h5ad", data);
    exercise(&dir, &path);
}

/// Everything pertbench reads from the h5ad file at `path` (in `dir`).
pub fn exercise(dir: &Path, path: &Path) {
    crate::targets::inspect(path);
    if let Ok(h) = pertbench_data::h5ad::H5ad::open(path) {
        let _ = h.layer_names();
        if let Ok(shapes) = h.obsm_shapes() {
            for (key, _) in shapes {
                let _ = h.read_obsm(&key, None);
            }
        }
    }
    crate::targets::load_screen(
        dir,
        path,
        "h5ad",
        "columns: {perturbation: perturbation, batch: batch, control: {column: is_control}}",
    );
}
