"""Writes Cell Painting-style plates (one row per well: Metadata_ columns,
then CellProfiler-named features) with pandas and pyarrow, for pertbench's
mAP suite (crates/cli/tests/map): compounds with 1 to 5 replicate wells
spread over plates, strong, weak and inactive, and DMSO control wells on
every plate. Feature values are float32 numbers (stored as float64), so
copairs and pertbench see the same values.

    python make_plate.py OUT_DIR

Writes plate.parquet (2 plates, 48 DMSO wells, 60 compounds; one
compound's well is an exact copy of a DMSO well, so a positive and a
negative tie) and null_plate.parquet (neither compounds nor plates have an
effect, every well exchangeable: the calibration case). Compounds carry a
Metadata_target annotation (none, one target or two `|`-separated; on
plate.parquet compounds of a target share a direction, on null_plate.parquet
targets are drawn at random and carry nothing), and the DMSO wells none.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = [f"{c}_{m}_{k}" for c in ("Cells", "Nuclei", "Cytoplasm")
            for m in ("AreaShape", "Intensity") for k in range(5)]


TARGETS = [f"T{t}" for t in range(10)]


def target_of(c, rng):
    """A compound's annotation: one target, two (`|`-separated), or none."""
    u = rng.random()
    if u < 0.1:
        return None
    first = TARGETS[c % len(TARGETS)]
    if u < 0.35:
        second = TARGETS[(c * 7 + 3) % len(TARGETS)]
        if second != first:
            return f"{first}|{second}"
    return first


def plate(rng, n_compounds, n_dmso_per_plate, effects, plate_effect=0.3, target_effect=0.0,
          n_targets=None):
    rows, values = [], []
    d = len(FEATURES)
    base = {p: rng.normal(0, plate_effect, d) for p in ("P1", "P2")}
    well = 0

    targets = TARGETS if n_targets is None else [f"T{t}" for t in range(n_targets)]
    target_dirs = {t: rng.normal(0, 1, d) for t in targets}

    def add(plate_name, compound, control, x, target=None):
        nonlocal well
        rows.append(dict(Metadata_Plate=plate_name, Metadata_Well=f"W{well:04d}",
                         Metadata_broad_sample=compound, Metadata_control=control,
                         Metadata_target=target))
        values.append(x)
        well += 1

    for p in ("P1", "P2"):
        for _ in range(n_dmso_per_plate):
            add(p, "DMSO", True, base[p] + rng.normal(0, 1, d))
    for c in range(n_compounds):
        n_rep = [4, 4, 4, 3, 2, 5, 1][c % 7]
        direction = rng.normal(0, 1, d)
        strength = effects[c % len(effects)]
        if n_targets is None:
            target = target_of(c, rng)
        else:
            target = targets[int(rng.integers(n_targets))]
        if target is not None:
            for t in target.split("|"):
                direction = direction + target_effect * target_dirs[t]
        for r in range(n_rep):
            p = ("P1", "P2")[(c + r) % 2]
            add(p, f"BRD-{c:04d}", False, base[p] + strength * direction + rng.normal(0, 1, d),
                target)
    meta = pd.DataFrame(rows)
    x = np.asarray(values).astype(np.float32).astype(np.float64)
    return pd.concat([meta, pd.DataFrame(x, columns=FEATURES)], axis=1)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261207)
    df = plate(rng, 60, 24, [2.0, 0.6, 0.0], target_effect=1.0)
    # A tie: a compound well identical to a DMSO well of its plate.
    first_dmso = df.index[(df.Metadata_control) & (df.Metadata_Plate == "P1")][0]
    tied = df.index[(df.Metadata_broad_sample == "BRD-0000") & (df.Metadata_Plate == "P1")][0]
    df.loc[tied, FEATURES] = df.loc[first_dmso, FEATURES].to_numpy()
    df.to_parquet(out / "plate.parquet", index=False)
    # No effect of compound or plate: every well exchangeable.
    # Targets drawn at random among 100, so no label is consistent.
    plate(np.random.default_rng(7), 300, 30, [0.0], plate_effect=0.0,
          n_targets=100).to_parquet(out / "null_plate.parquet", index=False)


if __name__ == "__main__":
    main()
