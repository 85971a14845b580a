//! Writes every fuzz target's seed corpus to `<dir>/<target>/` (for
//! `scripts/fuzz.sh`): `fuzz-seeds <dir> [target ...]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(std::path::PathBuf::from) else {
        eprintln!("usage: fuzz-seeds <dir> [target ...]");
        std::process::exit(2);
    };
    let wanted: Vec<String> = args.collect();
    if pertbench_fuzzing::seeds::venvs().is_none() {
        eprintln!("note: no virtual environments (bash scripts/venvs.sh): seeds from pertbench's own writers only");
    }
    let work = tempfile::tempdir().expect("a temporary directory");
    for t in pertbench_fuzzing::TARGETS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == t.name) {
            continue;
        }
        let seeds = match pertbench_fuzzing::seeds::seeds(t.name, &work.path().join(t.name)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: seeds of `{}`: {e}", t.name);
                std::process::exit(1);
            }
        };
        let out = dir.join(t.name);
        let _ = std::fs::remove_dir_all(&out);
        if let Err(e) = std::fs::create_dir_all(&out) {
            eprintln!("error: {}: {e}", out.display());
            std::process::exit(1);
        }
        for (name, bytes) in &seeds {
            if let Err(e) = std::fs::write(out.join(name), bytes) {
                eprintln!("error: {}: {e}", out.join(name).display());
                std::process::exit(1);
            }
        }
        println!("{:<12} {:>3} seeds  {}", t.name, seeds.len(), t.drives);
    }
}
