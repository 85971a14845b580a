-- Distribution metrics per representation: the value with its bootstrap
-- 95% interval over knock-outs (ci_low, ci_high), and the share of
-- knock-outs that differ from their controls after BH adjustment.
SELECT
  dataset,
  representation,
  postprocessing,
  metric,
  variant,
  ROUND(value, 4) AS value,
  ROUND(ci_low, 4) AS ci_low,
  ROUND(ci_high, 4) AS ci_high,
  n_items,
  seed
FROM results
WHERE task = 'distribution'
ORDER BY dataset, metric, variant, representation, postprocessing, seed;
