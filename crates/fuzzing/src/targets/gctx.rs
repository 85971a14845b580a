//! CMap gctx files (HDF5), mutated byte by byte: `inspect`, then the screen
//! loaded through a manifest with CMap's metadata fields, as the L1000
//! manifests read it.

pub fn run(data: &[u8]) {
    let dir = crate::scratch::fresh("gctx");
    let path = crate::scratch::file(&dir, "plate.gctx", data);
    crate::targets::inspect(&path);
    if let Ok(g) = pertbench_data::gctx::Gctx::open(&path) {
        let _ = g.row_column_names();
        if let Ok(names) = g.column_names() {
            for n in names {
                let _ = g.column(&n);
            }
        }
    }
    crate::targets::load_screen(&dir, &path, "gctx", FIELDS);
}

pub(crate) const FIELDS: &str = "values: log_expression\ngene_column: pr_gene_symbol\ncolumns: {perturbation: cmap_name, batch: det_plate, control: {column: pert_type, in: [ctl_vector]}}";
