-- The Virtual Cell Challenge table (metric kind `vcc`): per predictor, the
-- challenge's three metrics averaged over the held-out perturbations (DES =
-- overlap_at_N, PDS = discrimination_score_l1, MAE = mae), each normalised
-- against the baseline predictor (1 = perfect, 0 = no better than the
-- baseline), and vcc_score, their mean: the challenge's score (cell-eval
-- `score` with profile vcc). avg_score is the same mean over every metric of
-- the entry's profile. The baseline's own row has no scores.
SELECT
  dataset,
  metric,
  seed,
  source AS predictor,
  ROUND(MAX(CASE WHEN variant = 'overlap_at_N' THEN value END), 4) AS des,
  ROUND(MAX(CASE WHEN variant = 'discrimination_score_l1' THEN value END), 4) AS pds,
  ROUND(MAX(CASE WHEN variant = 'mae' THEN value END), 4) AS mae,
  ROUND(MAX(CASE WHEN variant = 'from_baseline_overlap_at_N' THEN value END), 4) AS des_score,
  ROUND(MAX(CASE WHEN variant = 'from_baseline_discrimination_score_l1' THEN value END), 4) AS pds_score,
  ROUND(MAX(CASE WHEN variant = 'from_baseline_mae' THEN value END), 4) AS mae_score,
  ROUND((MAX(CASE WHEN variant = 'from_baseline_overlap_at_N' THEN value END)
    + MAX(CASE WHEN variant = 'from_baseline_discrimination_score_l1' THEN value END)
    + MAX(CASE WHEN variant = 'from_baseline_mae' THEN value END)) / 3, 4) AS vcc_score,
  ROUND(MAX(CASE WHEN variant = 'avg_score' THEN value END), 4) AS avg_score,
  MAX(CASE WHEN variant = 'mae' THEN n_items END) AS held_out
FROM results
WHERE task = 'prediction'
GROUP BY dataset, metric, seed, source
HAVING MAX(CASE WHEN variant = 'overlap_at_N' THEN 1 END) = 1
ORDER BY dataset, metric, seed, vcc_score DESC NULLS LAST, predictor;
