-- Paper 004, Table 2 layout: one row per task and metric, one column per
-- representation, from the view `best_postprocessing`. Each cell is the
-- value of the best post-processing (mean over seeds; the largest, or the
-- smallest for errors), its standard deviation over seeds, and the
-- post-processing that won, e.g.
-- "0.812 ± 0.004 (tvn)". `best` names the representation with the best
-- cell. The columns are the hierarchy pipeline's representations (pca,
-- random, shuffled); add a line per column for other representations.
WITH cells AS (
  SELECT dataset, task, metric, COALESCE(source, '') AS source, variant, representation,
         higher_is_better, mean_value, n_seeds,
         CONCAT(CAST(ROUND(mean_value, 3) AS VARCHAR), ' ± ',
                CAST(ROUND(sd_value, 3) AS VARCHAR), ' (', postprocessing, ')') AS cell,
         ROW_NUMBER() OVER (
           PARTITION BY dataset, task, metric, source, variant
           ORDER BY CASE WHEN higher_is_better THEN mean_value ELSE -mean_value END DESC,
                    representation) AS rank_across_representations
  FROM best_postprocessing
  WHERE variant IN ('ilisi_scaled', 'ilisi_mean', 'top1', 'top5', 'fraction_significant',
                    'recall_0.05_0.95', 'spearman', 'pearson', 'mse', 'structural_integrity')
)
SELECT dataset, task, metric, source, variant,
       MAX(CASE WHEN representation = 'pca' THEN cell END) AS pca,
       MAX(CASE WHEN representation = 'random' THEN cell END) AS random,
       MAX(CASE WHEN representation = 'shuffled' THEN cell END) AS shuffled,
       MAX(CASE WHEN rank_across_representations = 1 THEN representation END) AS best,
       MAX(n_seeds) AS n_seeds
FROM cells
GROUP BY dataset, task, metric, source, variant
ORDER BY dataset, task, metric, source, variant;
