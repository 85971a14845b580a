-- Paper 004, Table 2 layout: one row per task and metric, one column per
-- representation, from the view `best_postprocessing`. Each cell is the
-- value of the best post-processing (mean over seeds; the largest, or the
-- smallest for errors), its standard deviation over seeds, and the
-- post-processing that won, e.g.
-- "0.812 ± 0.004 (tvn)". `best` names the representation with the best
-- cell. The headline variants are the SQL table `headline_variants`, from
-- the results schema. The columns are the hierarchy pipeline's representations (pca,
-- random, shuffled); add a line per column for other representations.
-- When pipelines hold two definitions under one name (a `pca` of 50 and
-- one of 30 components), the column lists both, each prefixed with the
-- first 8 characters of its definition key, never one picked silently.
WITH definitions AS (
  SELECT dataset, representation, COUNT(DISTINCT representation_definition) AS n_definitions
  FROM best_postprocessing
  GROUP BY dataset, representation
),
cells AS (
  SELECT b.dataset, task, metric, COALESCE(source, '') AS source, variant, b.representation,
         higher_is_better, mean_value, n_seeds,
         CONCAT(CASE WHEN d.n_definitions > 1
                     THEN CONCAT('[', LEFT(representation_definition, 8), '] ') ELSE '' END,
                CAST(ROUND(mean_value, 3) AS VARCHAR), ' ± ',
                CAST(ROUND(sd_value, 3) AS VARCHAR), ' (', postprocessing, ')') AS cell,
         ROW_NUMBER() OVER (
           PARTITION BY b.dataset, task, metric, source, variant
           ORDER BY CASE WHEN higher_is_better THEN mean_value ELSE -mean_value END DESC,
                    b.representation) AS rank_across_representations
  FROM best_postprocessing b JOIN definitions d
    ON b.dataset = d.dataset AND b.representation = d.representation
  WHERE variant IN (SELECT variant FROM headline_variants)
)
SELECT dataset, task, metric, source, variant,
       STRING_AGG(CASE WHEN representation = 'pca' THEN cell END, '; ' ORDER BY cell) AS pca,
       STRING_AGG(CASE WHEN representation = 'random' THEN cell END, '; ' ORDER BY cell) AS random,
       STRING_AGG(CASE WHEN representation = 'shuffled' THEN cell END, '; ' ORDER BY cell) AS shuffled,
       MAX(CASE WHEN rank_across_representations = 1 THEN representation END) AS best,
       MAX(n_seeds) AS n_seeds
FROM cells
GROUP BY dataset, task, metric, source, variant
ORDER BY dataset, task, metric, source, variant;
