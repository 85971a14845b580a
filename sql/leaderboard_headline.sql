-- The leaderboard restricted to the headline variants: Task 3's fraction of
-- significant perturbations and Task 5's two-tailed recall at (0.05, 0.95).
WITH per_postprocessing AS (
  SELECT dataset, metric, source, variant, representation, postprocessing,
         AVG(value) AS mean_value, STDDEV_POP(value) AS sd_value, COUNT(*) AS n_seeds
  FROM results
  WHERE value IS NOT NULL AND variant IN ('fraction_significant', 'recall_0.05_0.95')
  GROUP BY dataset, metric, source, variant, representation, postprocessing
),
ranked AS (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY dataset, metric, source, variant, representation
    ORDER BY mean_value DESC, postprocessing) AS rank_in_representation
  FROM per_postprocessing
)
SELECT dataset, metric, source, representation,
       postprocessing AS best_postprocessing,
       ROUND(mean_value, 4) AS value, n_seeds
FROM ranked
WHERE rank_in_representation = 1
ORDER BY dataset, metric, source, value DESC;
