-- Best post-processing per dataset, representation and metric (paper 004,
-- Table 2 selection): mean over seeds of each post-processing, the best one
-- kept, with its standard deviation over seeds and the number of seeds.
WITH per_postprocessing AS (
  SELECT dataset, metric, source, variant, representation, postprocessing,
         AVG(value) AS mean_value, STDDEV_POP(value) AS sd_value, COUNT(*) AS n_seeds
  FROM results
  WHERE value IS NOT NULL
  GROUP BY dataset, metric, source, variant, representation, postprocessing
),
ranked AS (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY dataset, metric, source, variant, representation
    ORDER BY mean_value DESC, postprocessing) AS rank_in_representation
  FROM per_postprocessing
)
SELECT dataset, metric, source, variant, representation,
       postprocessing AS best_postprocessing,
       ROUND(mean_value, 4) AS value, ROUND(sd_value, 4) AS sd, n_seeds
FROM ranked
WHERE rank_in_representation = 1
ORDER BY dataset, metric, source, variant, value DESC;
