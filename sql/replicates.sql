-- cytominer-eval's replicate metrics per representation and post-processing
-- (pipelines/profiles.yaml): percent replicating (replicate pairs above the
-- 95th percentile of non-replicate pairs), precision at 10 of replicate
-- pairs, the enrichment odds ratio of replicate pairs above the 99th
-- percentile of all pairs, and the mean grit of perturbations against the
-- other perturbations of their annotation group. Means over seeds.
SELECT
  dataset,
  representation,
  postprocessing,
  ROUND(AVG(CASE WHEN variant = 'fraction_replicating' THEN value END), 4) AS percent_replicating,
  ROUND(AVG(CASE WHEN variant = 'precision_at_10' THEN value END), 4) AS precision_at_10,
  ROUND(AVG(CASE WHEN variant = 'odds_ratio_0.99' THEN value END), 4) AS enrichment_odds_ratio,
  ROUND(AVG(CASE WHEN variant = 'mean_grit' THEN value END), 4) AS mean_grit,
  COUNT(DISTINCT seed) AS seeds
FROM results
WHERE variant IN ('fraction_replicating', 'precision_at_10', 'odds_ratio_0.99', 'mean_grit')
GROUP BY dataset, representation, postprocessing
ORDER BY dataset, representation, postprocessing;
