-- Predictors side by side (the predictor is the row's `source`): each
-- score with its bootstrap 95% interval over knock-outs. Discrimination
-- ranks the true knock-out among all real shifts (1 = always closest);
-- mse and energy_to_real are errors (lower is better).
SELECT
  dataset,
  representation,
  metric,
  variant,
  source AS predictor,
  ROUND(value, 4) AS value,
  ROUND(ci_low, 4) AS ci_low,
  ROUND(ci_high, 4) AS ci_high,
  n_items,
  higher_is_better
FROM results
WHERE task = 'prediction'
ORDER BY dataset, representation, metric, variant, value DESC;
