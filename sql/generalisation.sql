-- Distribution metrics, transfer probes and rewiring per representation: the value
-- with its bootstrap 95% interval over knock-outs (ci_low, ci_high), the
-- mean of the same computation on shuffled labels (null_mean) with its
-- empirical p-value, and for the fractions the share of knock-outs that
-- pass after BH adjustment.
SELECT
  dataset,
  representation,
  postprocessing,
  metric,
  variant,
  ROUND(value, 4) AS value,
  ROUND(ci_low, 4) AS ci_low,
  ROUND(ci_high, 4) AS ci_high,
  ROUND(null_mean, 4) AS null_mean,
  ROUND(p_value, 4) AS p_value,
  n_items,
  seed
FROM results
WHERE task IN ('distribution', 'transfer', 'rewiring')
ORDER BY dataset, metric, variant, representation, postprocessing, seed;
