//! Data manifest YAML: parsed and validated (`Manifest::load`), then found
//! by name among manifests (`manifest::find`), as `pertbench fetch` does.

pub fn run(data: &[u8]) {
    let dir = crate::scratch::fresh("manifest");
    let path = crate::scratch::file(&dir, "m.yaml", data);
    if let Ok(m) = pertbench_data::manifest::Manifest::load(&path) {
        let _ = m.parts();
        let _ = m.artefact_file();
        let _ = pertbench_data::manifest::find(&m.name, &[dir.clone()]);
    }
}
