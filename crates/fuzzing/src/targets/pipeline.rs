//! Pipeline YAML: parsed and validated (`Pipeline::from_str`), then planned
//! against the repository's manifests (`dag::build`, what `pertbench plan`
//! does), as a user's file would be.

use pertbench_data::dataset::DataContext;
use pertbench_data::fetch::FetchOptions;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = crate::scratch::fresh("pipeline");
    let path = dir.join("pipeline.yaml");
    let Ok(p) = pertbench_engine::pipeline::Pipeline::from_str(&path, text) else {
        return;
    };
    let ctx = DataContext {
        manifest_dirs: vec![crate::repo_root().join("data_manifests")],
        fetch: FetchOptions {
            mirrors: vec![],
            data_dir: dir.join("data"),
            allow_network: false,
            allow_unpinned: false,
        },
    };
    let _ = pertbench_engine::plan::build(&p, &ctx);
}
