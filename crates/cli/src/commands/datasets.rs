//! `pertbench datasets`: the dataset manifests.

use crate::context::Context;
use anyhow::Result;

pub fn run(ctx: &Context) -> Result<()> {
    // A manifest that does not parse is listed with its error, not
    // skipped: a typo must not make a dataset silently disappear.
    let mut broken = 0;
    for (p, m) in pertbench_data::manifest::list_all(&ctx.data.manifest_dirs) {
        match m {
            Ok(m) => println!(
                "{:<28} {:<18} {}  [{}]",
                m.name,
                format!("{:?}", m.format).to_lowercase(),
                m.description,
                p.display()
            ),
            Err(e) => {
                broken += 1;
                println!("{:<28} {:<18} {e}", "(does not parse)", "error");
            }
        }
    }
    if broken > 0 {
        eprintln!("{broken} manifest(s) do not parse: see the lines marked `error`");
    }
    Ok(())
}
