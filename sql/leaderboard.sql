-- Best post-processing per dataset, representation and metric (paper 004,
-- Table 2 selection): mean over seeds of each post-processing, the best one
-- kept (the largest, or the smallest for errors such as mse), with its
-- standard deviation over seeds and the number of seeds.
WITH per_postprocessing AS (
  SELECT dataset, task, metric, source, variant, representation, postprocessing,
         BOOL_AND(higher_is_better) AS higher_is_better,
         AVG(value) AS mean_value, STDDEV_POP(value) AS sd_value, COUNT(*) AS n_seeds
  FROM results
  WHERE value IS NOT NULL
  GROUP BY dataset, task, metric, source, variant, representation, postprocessing
),
ranked AS (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY dataset, task, metric, source, variant, representation
    ORDER BY CASE WHEN higher_is_better THEN mean_value ELSE -mean_value END DESC,
             postprocessing) AS rank_in_representation
  FROM per_postprocessing
)
SELECT dataset, task, metric, source, variant, representation,
       postprocessing AS best_postprocessing,
       ROUND(mean_value, 4) AS value, ROUND(sd_value, 4) AS sd, n_seeds
FROM ranked
WHERE rank_in_representation = 1
ORDER BY dataset, task, metric, source, variant,
         CASE WHEN higher_is_better THEN mean_value ELSE -mean_value END DESC;
