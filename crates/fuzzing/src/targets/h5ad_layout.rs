//! h5ad files built from the input: the bytes choose each part of an
//! AnnData layout (obs columns as categoricals with any codes, strings,
//! bools, numbers with NaN, nullable arrays; X dense, CSR or CSC with any
//! shape attribute, indptr, indices and values; var names; an obsm
//! embedding; a counts layer), each consistent or not with the others. Byte
//! mutation rarely gets past HDF5's own checksums; this reaches pertbench's
//! checks of what a valid HDF5 file says.

use hdf5::types::VarLenUnicode;
use ndarray::{arr1, Array1, Array2};

/// The input, read as choices (zero once it runs out).
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n.max(1)
    }
    /// A length near `n`: usually `n`, sometimes one more or less, or 0.
    fn length(&mut self, n: usize) -> usize {
        match self.byte() % 8 {
            0 => n + 1,
            1 => n.saturating_sub(1),
            2 => 0,
            _ => n,
        }
    }
    fn word(&mut self) -> &'static str {
        const WORDS: &[&str] = &[
            "NT",
            "non-targeting",
            "G1",
            "G2",
            "STAT1",
            "b1",
            "b2",
            "",
            "True",
            "1",
            "ctrl",
            "nan",
            "é",
            "ENSG00000115415",
        ];
        WORDS[self.below(WORDS.len())]
    }
    fn float(&mut self) -> f64 {
        match self.byte() % 16 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -1.0,
            3 => 0.5,
            4 => 1e30,
            k => f64::from(k) - 5.0 + f64::from(self.byte() % 4),
        }
    }
    fn int(&mut self) -> i64 {
        match self.byte() % 16 {
            0 => -1,
            1 => i64::from(i32::MAX),
            2 => 1 << 40,
            3 => i64::MIN,
            k => i64::from(k) - 4,
        }
    }
}

type H = hdf5::Result<()>;

fn text(s: &str) -> VarLenUnicode {
    s.parse().unwrap_or_default()
}

fn attr(loc: &hdf5::Location, name: &str, value: &str) -> H {
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&text(value))
}

fn strings(g: &hdf5::Group, name: &str, c: &mut Choices, n: usize) -> H {
    let v: Array1<VarLenUnicode> = (0..n).map(|_| text(c.word())).collect();
    g.new_dataset_builder().with_data(&v).create(name)?;
    Ok(())
}

/// An integer array of one of four widths.
fn ints(g: &hdf5::Group, name: &str, c: &mut Choices, v: Vec<i64>) -> H {
    let b = g.new_dataset_builder();
    match c.below(4) {
        0 => b
            .with_data(&arr1(&v.iter().map(|&x| x as i8).collect::<Vec<_>>()))
            .create(name)?,
        1 => b
            .with_data(&arr1(&v.iter().map(|&x| x as i16).collect::<Vec<_>>()))
            .create(name)?,
        2 => b
            .with_data(&arr1(&v.iter().map(|&x| x as i32).collect::<Vec<_>>()))
            .create(name)?,
        _ => b.with_data(&arr1(&v)).create(name)?,
    };
    Ok(())
}

fn floats(g: &hdf5::Group, name: &str, c: &mut Choices, n: usize) -> H {
    let v: Vec<f64> = (0..n).map(|_| c.float()).collect();
    let b = g.new_dataset_builder();
    match c.below(3) {
        0 => b
            .with_data(&arr1(&v.iter().map(|&x| x as f32).collect::<Vec<_>>()))
            .create(name)?,
        1 => b.with_data(&arr1(&v)).create(name)?,
        _ => b
            .with_data(&arr1(&v.iter().map(|&x| x as i32).collect::<Vec<_>>()))
            .create(name)?,
    };
    Ok(())
}

fn column(obs: &hdf5::Group, name: &str, c: &mut Choices, n_obs: usize) -> H {
    let n = c.length(n_obs);
    match c.below(8) {
        0 => {}
        1 | 7 => {
            let g = obs.create_group(name)?;
            attr(&g, "encoding-type", "categorical")?;
            attr(&g, "encoding-version", "0.2.0")?;
            let n_cat = c.below(4);
            if c.below(2) == 0 {
                strings(&g, "categories", c, n_cat)?;
            } else {
                let cats: Vec<i64> = (0..n_cat).map(|_| c.int()).collect();
                ints(&g, "categories", c, cats)?;
            }
            let codes: Vec<i64> = (0..n).map(|_| c.below(n_cat + 2) as i64 - 1).collect();
            ints(&g, "codes", c, codes)?;
        }
        2 => strings(obs, name, c, n)?,
        3 => {
            let v: Vec<bool> = (0..n).map(|_| c.below(2) == 1).collect();
            obs.new_dataset_builder()
                .with_data(&arr1(&v))
                .create(name)?;
        }
        4 => {
            let v: Vec<i64> = (0..n).map(|_| c.int()).collect();
            ints(obs, name, c, v)?;
        }
        5 => floats(obs, name, c, n)?,
        _ => {
            let g = obs.create_group(name)?;
            let boolean = c.below(2) == 0;
            attr(
                &g,
                "encoding-type",
                if boolean {
                    "nullable-boolean"
                } else {
                    "nullable-integer"
                },
            )?;
            let mask: Vec<bool> = (0..c.length(n)).map(|_| c.below(3) == 0).collect();
            g.new_dataset_builder()
                .with_data(&arr1(&mask))
                .create("mask")?;
            if boolean {
                let v: Vec<bool> = (0..n).map(|_| c.below(2) == 1).collect();
                g.new_dataset_builder()
                    .with_data(&arr1(&v))
                    .create("values")?;
            } else {
                let v: Vec<i64> = (0..n).map(|_| c.int()).collect();
                ints(&g, "values", c, v)?;
            }
        }
    }
    Ok(())
}

/// A matrix `name` of `loc`: dense, CSR or CSC (or absent).
fn matrix(loc: &hdf5::Group, name: &str, c: &mut Choices, rows: usize, cols: usize) -> H {
    match c.below(4) {
        0 => {}
        1 => {
            let (r, k) = (c.length(rows), c.length(cols));
            let v = Array2::from_shape_fn((r, k), |_| c.float() as f32);
            loc.new_dataset_builder().with_data(&v).create(name)?;
        }
        kind => {
            let g = loc.create_group(name)?;
            let csr = kind == 2;
            attr(
                &g,
                "encoding-type",
                if csr { "csr_matrix" } else { "csc_matrix" },
            )?;
            let shape = if c.below(4) == 0 {
                [c.int(), c.int()]
            } else {
                [c.length(rows) as i64, c.length(cols) as i64]
            };
            g.new_attr::<i64>()
                .shape(2)
                .create("shape")?
                .write(&arr1(&shape))?;
            let (major, minor) = if csr { (rows, cols) } else { (cols, rows) };
            let nnz = c.below(2 * major * minor.max(1) + 2);
            let mut indptr: Vec<i64> = Vec::with_capacity(major + 1);
            indptr.push(0);
            for _ in 0..c.length(major) {
                let step = if c.below(8) == 0 {
                    c.int()
                } else {
                    c.below(minor + 1) as i64
                };
                indptr.push(indptr.last().copied().unwrap_or(0).wrapping_add(step));
            }
            ints(&g, "indptr", c, indptr)?;
            let indices: Vec<i64> = (0..nnz).map(|_| c.below(minor + 2) as i64).collect();
            ints(&g, "indices", c, indices)?;
            let n_data = c.length(nnz);
            floats(&g, "data", c, n_data)?;
        }
    }
    Ok(())
}

fn build(path: &std::path::Path, c: &mut Choices) -> H {
    let f = hdf5::File::create(path)?;
    let n_obs = c.below(7);
    let n_var = c.below(5);
    let obs = f.create_group("obs")?;
    if c.below(8) != 0 {
        attr(&obs, "_index", "_index")?;
        attr(&obs, "encoding-type", "dataframe")?;
        attr(&obs, "encoding-version", "0.2.0")?;
    }
    let n_idx = c.length(n_obs);
    let names: Array1<VarLenUnicode> = (0..n_idx)
        .map(|i| {
            if c.below(8) == 0 {
                text(c.word())
            } else {
                text(&format!("cell{i}"))
            }
        })
        .collect();
    obs.new_dataset_builder()
        .with_data(&names)
        .create("_index")?;
    for name in ["perturbation", "batch", "is_control"] {
        column(&obs, name, c, n_obs)?;
    }
    let var = f.create_group("var")?;
    attr(&var, "_index", "_index")?;
    attr(&var, "encoding-type", "dataframe")?;
    let n_names = c.length(n_var);
    strings(&var, "_index", c, n_names)?;
    matrix(&f, "X", c, n_obs, n_var)?;
    let obsm = f.create_group("obsm")?;
    let dims = 1 + c.below(3);
    matrix(&obsm, "X_emb", c, n_obs, dims)?;
    let layers = f.create_group("layers")?;
    matrix(&layers, "counts", c, n_obs, n_var)?;
    Ok(())
}

pub fn run(data: &[u8]) {
    let dir = crate::scratch::fresh("h5ad_layout");
    let path = dir.join("screen.h5ad");
    // A layout HDF5 itself cannot hold is not pertbench's to read.
    if build(&path, &mut Choices(data)).is_err() {
        return;
    }
    crate::targets::h5ad::exercise(&dir, &path);
}
