//! Loading a CMap screen (gctx or gct files, appended parts, a joined
//! sample table, a gene table) into the data model.

use super::*;

/// A CMap screen (gctx or gct): the main file, then the files of `append`
/// (same genes, in the same order; gctx or gct), with sample metadata from
/// the optional joined table, else from the files' own column metadata.
/// Samples absent from the table are dropped and counted. Genes are named
/// by the row ids, a row metadata field (`gene_column`, e.g.
/// `pr_gene_symbol`) or a gene table (`genes`).
pub(super) fn load_cmap(
    m: &Manifest,
    map: &ColumnMapping,
    path: PathBuf,
    ctx: &DataContext,
) -> Result<Dataset> {
    let mut parts = vec![CmapFile::open(&path, m.format)?];
    for name in &m.append {
        let (apath, am) = ctx.manifest(name)?;
        if !matches!(am.format, Format::Gctx | Format::Gct) {
            return Err(DataError::file(
                &apath,
                format!(
                    "`{}` appends `{name}`, which is not a gctx or gct dataset",
                    m.name
                ),
            ));
        }
        parts.push(CmapFile::open(&fetch(&am, &ctx.fetch)?.path, am.format)?);
    }
    let genes = parts[0].gene_ids()?;
    for p in &parts[1..] {
        let other = p.gene_ids()?;
        if other != genes {
            let at = genes.iter().zip(&other).position(|(a, b)| a != b);
            return Err(DataError::file(
                p.path(),
                match at {
                    Some(i) => format!(
                        "genes differ from {}: gene {i} is `{}` here and `{}` there",
                        parts[0].path().display(),
                        other[i],
                        genes[i]
                    ),
                    None => format!(
                        "has {} genes, {} has {}",
                        other.len(),
                        parts[0].path().display(),
                        genes.len()
                    ),
                },
            ));
        }
    }
    // (part, row in part) of every sample, in file order.
    let mut index = Vec::new();
    let mut origin = Vec::new();
    for (k, p) in parts.iter().enumerate() {
        let ids = p.sample_ids()?;
        origin.extend((0..ids.len()).map(|r| (k, r)));
        index.extend(ids);
    }
    let n_file_rows = index.len();
    let mut dropped = BTreeMap::new();
    // The joined table (path, frame, its row for each kept sample), and the
    // samples kept: those the table has.
    let (table, kept): (Option<(PathBuf, _, Vec<usize>)>, Vec<usize>) = match &m.metadata {
        Some(join) => {
            let tpath = ctx.file_of(&join.dataset)?;
            let mut wanted = vec![join.key.clone()];
            wanted.extend(map.column_names().into_iter().map(String::from));
            let df = tabular::read_metadata_table(&tpath, &wanted)?;
            let keys = tabular::column(&tpath, &df, &join.key)?.ok_or_else(|| {
                DataError::file(
                    &tpath,
                    format!("metadata key column `{}` is missing", join.key),
                )
            })?;
            let row_of = key_rows(&tpath, &keys, &join.key)?;
            let mut kept = Vec::with_capacity(index.len());
            let mut table_rows = Vec::with_capacity(index.len());
            for (i, id) in index.iter().enumerate() {
                if let Some(&r) = row_of.get(id) {
                    kept.push(i);
                    table_rows.push(r);
                }
            }
            if kept.len() < index.len() {
                dropped.insert(
                    format!("not in metadata {}", tpath.display()),
                    index.len() - kept.len(),
                );
            }
            (Some((tpath, df, table_rows)), kept)
        }
        None => (None, (0..index.len()).collect()),
    };
    let kept_index: Vec<String> = kept.iter().map(|&i| index[i].clone()).collect();
    let mut get = |name: &str| -> Result<Option<RawColumn>> {
        if let Some((tpath, df, table_rows)) = &table {
            if let Some(col) = tabular::column(tpath, df, name)? {
                return Ok(Some(col.select(table_rows)));
            }
        }
        let mut cols = Vec::new();
        for p in &parts {
            match p.column(name)? {
                Some(c) => cols.push(c),
                None if cols.is_empty() => return Ok(None),
                None => {
                    return Err(DataError::file(
                        p.path(),
                        format!("sample metadata `{name}` is missing from its column metadata"),
                    ))
                }
            }
        }
        let mut all = Vec::with_capacity(n_file_rows);
        for c in &cols {
            all.extend((0..c.len()).map(|i| c.text(i)));
        }
        Ok(Some(RawColumn::Str(
            kept.iter().map(|&i| all[i].clone()).collect(),
        )))
    };
    let ing = ingest(&path, map, &kept_index, &mut get)?;
    dropped.extend(ing.dropped);
    let source_rows: Vec<usize> = ing.source_rows.iter().map(|&r| kept[r]).collect();
    let (gene_columns, genes) = match (&m.genes, &m.gene_column) {
        (Some(t), _) => {
            let (cols, names) = gene_table(t, &genes, ctx)?;
            (Some(cols), names)
        }
        (None, Some(field)) => {
            let col = parts[0].row_column(field)?.ok_or_else(|| {
                let have = parts[0].row_column_names().unwrap_or_default();
                DataError::file(
                    parts[0].path(),
                    format!(
                        "`gene_column: {field}`: no such row metadata field; its fields: {}",
                        listing(&have)
                    ),
                )
            })?;
            let names = gene_names_from(parts[0].path(), field, &col, &genes, "the row metadata")?;
            (None, names)
        }
        (None, None) => (None, genes),
    };
    let mut counts = CsrMatrix::empty(genes.len());
    // `source_rows` ascend and parts follow each other in `index`, so
    // reading part by part keeps the samples in order.
    for (k, p) in parts.iter().enumerate() {
        let rows: Vec<usize> = source_rows
            .iter()
            .map(|&i| origin[i])
            .filter(|(part, _)| *part == k)
            .map(|(_, r)| r)
            .collect();
        let block = p.read_rows(&rows, gene_columns.as_deref())?;
        if m.values == Values::Counts {
            if let Some((r, c, v, why)) = count_values::first_not_count(&block) {
                let ids = p.sample_ids()?;
                return Err(DataError::file(
                    p.path(),
                    format!(
                        "the value {v} of sample `{}`, gene `{}` {}, but the manifest declares raw counts (`values: counts`, the default); gctx files (L1000 levels 3 to 5) hold log expression: set `values: log_expression`",
                        ids.get(rows[r]).map(String::as_str).unwrap_or("?"),
                        genes.get(c).map(String::as_str).unwrap_or("?"),
                        why.describe()
                    ),
                ));
            }
        }
        counts
            .append_rows(&block)
            .map_err(|e| DataError::file(p.path(), e.to_string()))?;
    }
    Ok(Dataset {
        name: m.name.clone(),
        samples: ing.samples,
        counts: Some(counts),
        genes,
        dropped,
        file: Some(path),
        source_rows,
        n_file_rows,
        values: m.values,
    })
}

/// The gene columns to keep and their names, from a gene table: every gene
/// id of the file must be in the table (a missing one is an error naming it).
fn gene_table(
    t: &crate::manifest::GeneTable,
    ids: &[String],
    ctx: &DataContext,
) -> Result<(Vec<usize>, Vec<String>)> {
    let tpath = ctx.file_of(&t.dataset)?;
    let mut wanted = vec![t.key.clone(), t.name.clone()];
    wanted.extend(t.keep.keys().cloned());
    let df = tabular::read_metadata_table(&tpath, &wanted)?;
    let need = |c: &str| -> Result<RawColumn> {
        tabular::column(&tpath, &df, c)?
            .ok_or_else(|| DataError::file(&tpath, format!("gene table column `{c}` is missing")))
    };
    let keys = need(&t.key)?;
    let names = need(&t.name)?;
    let keep: Vec<(RawColumn, &Vec<String>)> = t
        .keep
        .iter()
        .map(|(c, vals)| Ok((need(c)?, vals)))
        .collect::<Result<_>>()?;
    let row_of = key_rows(&tpath, &keys, &t.key)?;
    let mut cols = Vec::new();
    let mut out = Vec::new();
    for (j, id) in ids.iter().enumerate() {
        let r = *row_of.get(id).ok_or_else(|| {
            DataError::file(
                &tpath,
                format!("gene `{id}` of the screen is not in column `{}`", t.key),
            )
        })?;
        if keep
            .iter()
            .all(|(col, vals)| col.text(r).is_some_and(|v| vals.contains(&v)))
        {
            cols.push(j);
            out.push(names.text(r).unwrap_or_else(|| id.clone()));
        }
    }
    if cols.is_empty() {
        return Err(DataError::file(
            &tpath,
            format!("no gene passes `keep` {:?}", t.keep),
        ));
    }
    Ok((cols, out))
}

/// Row of each key of a table's key column; a key that occurs twice is an
/// error naming it (a join on it would be ambiguous).
pub(super) fn key_rows(
    tpath: &std::path::Path,
    keys: &RawColumn,
    column: &str,
) -> Result<std::collections::HashMap<String, usize>> {
    let mut row_of = std::collections::HashMap::with_capacity(keys.len());
    for r in 0..keys.len() {
        if let Some(k) = keys.text(r) {
            if row_of.insert(k.clone(), r).is_some() {
                return Err(DataError::file(
                    tpath,
                    format!("key `{k}` occurs twice in column `{column}`"),
                ));
            }
        }
    }
    Ok(row_of)
}
