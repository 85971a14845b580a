//! Differential expression of every perturbation against the controls, as
//! cell-eval computes it with pdex (REFERENCE_TOOLS.md section 2): the
//! input read and scaled as cell-eval prepares it ([`input`]), the test and
//! fold changes in the kernels
//! (`pertbench_kernels::tasks::differential_expression`), the table in
//! pdex's columns ([`table`]).

pub mod input;
pub mod table;

use crate::error::{EngineError, Result};
use pertbench_kernels::tasks::differential_expression::{
    differential_expression, DeOptions, DeTable,
};
use pertbench_kernels::Par;
use serde::{Deserialize, Serialize};

/// Whose DE conventions to follow, where versions of cell-eval differ.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum DeConvention {
    /// pdex 0.2 as cell-eval >= 0.6 calls it: Benjamini-Hochberg over each
    /// perturbation's genes; log2 fold change log2(t / r) with 0/0 = 0 and
    /// +-inf for a one-sided zero (epsilon 0).
    #[default]
    #[serde(rename = "pdex_0_2")]
    Pdex02,
    /// pdex 0.1 as cell-eval 0.5 called it (the Virtual Cell Challenge's
    /// scorer): Benjamini-Hochberg over every (perturbation, gene) test;
    /// fold change t / r, 20 when r = 0 and 1/20 when t = 0, then log2.
    #[serde(rename = "cell_eval_0_5")]
    CellEval05,
}

impl DeConvention {
    pub const ALL: [DeConvention; 2] = [DeConvention::Pdex02, DeConvention::CellEval05];

    pub fn name(self) -> &'static str {
        match self {
            DeConvention::Pdex02 => "pdex_0_2",
            DeConvention::CellEval05 => "cell_eval_0_5",
        }
    }

    pub fn parse(s: &str) -> Option<DeConvention> {
        let s = s.replace(['-', '.'], "_");
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// [`DeConvention::parse`], or a message listing the conventions (for
    /// command-line parsers).
    pub fn from_arg(s: &str) -> std::result::Result<DeConvention, String> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "`{s}`: expected one of {}",
                Self::ALL.map(|c| c.name()).join(", ")
            )
        })
    }

    pub fn options(self) -> DeOptions {
        match self {
            DeConvention::Pdex02 => DeOptions::PDEX_0_2,
            DeConvention::CellEval05 => DeOptions::PDEX_0_1,
        }
    }
}

/// The options `convention` gives for `cells`: pdex 0.2 is told the
/// scale cell-eval decided ([`input::GroupedCells::values_are`]); pdex 0.1
/// guesses it itself ([`input::GroupedCells::pdex_0_1_values`]).
pub fn options_for(cells: &input::GroupedCells, convention: DeConvention) -> DeOptions {
    let values = match convention {
        DeConvention::Pdex02 => cells.values_are(),
        DeConvention::CellEval05 => cells.pdex_0_1_values().0,
    };
    DeOptions {
        values,
        ..convention.options()
    }
}

/// What pdex 0.1 takes `cells`' values for, in a sentence for the user.
pub fn describe_pdex_0_1_guess(cells: &input::GroupedCells) -> String {
    let (values, mean) = cells.pdex_0_1_values();
    let taken = match values {
        pertbench_kernels::tasks::differential_expression::ValuesAre::Log1p => {
            "log1p (pseudobulks expm1 of mean values)"
        }
        _ => "linear (pseudobulks are plain means of the tested values)",
    };
    format!(
        "pdex 0.1's guess ({}): mean cell sum {mean:.2} against its limit {}: values taken as {taken}",
        cells.path.display(),
        input::PDEX_0_1_LOG_LIMIT
    )
}

/// Every perturbation of `cells` against its controls.
pub fn run(cells: &input::GroupedCells, convention: DeConvention, par: Par) -> Result<DeTable> {
    let options = options_for(cells, convention);
    let scale = &cells.scale;
    differential_expression(
        &cells.x,
        &cells.control_rows,
        &cells.rows,
        |row, stored| scale.value(row, stored),
        options,
        par,
    )
    .map_err(EngineError::kernel(format!(
        "{}: differential expression",
        cells.path.display()
    )))
}
