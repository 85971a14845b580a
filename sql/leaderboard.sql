-- Best post-processing per dataset, representation and metric (paper 004,
-- Table 2 selection), from the view `best_postprocessing`: mean over seeds
-- of each post-processing, the best one kept (the largest, or the smallest
-- for errors such as mse), with its standard deviation over seeds and the
-- number of seeds.
SELECT dataset, task, metric, source, variant, representation,
       postprocessing AS best_postprocessing,
       ROUND(mean_value, 4) AS value, ROUND(sd_value, 4) AS sd, n_seeds
FROM best_postprocessing
ORDER BY dataset, task, metric, source, variant,
         CASE WHEN higher_is_better THEN mean_value ELSE -mean_value END DESC, representation;
