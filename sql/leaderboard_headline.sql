-- The leaderboard restricted to the headline variants: Task 3's fraction of
-- significant perturbations and Task 5's two-tailed recall at (0.05, 0.95).
SELECT dataset, metric, source, representation,
       postprocessing AS best_postprocessing,
       ROUND(mean_value, 4) AS value, n_seeds
FROM best_postprocessing
WHERE variant IN ('fraction_significant', 'recall_0.05_0.95')
ORDER BY dataset, metric, source, value DESC, representation;
