-- copairs' retrieval metrics per representation and post-processing
-- (pipelines/profiles.yaml): phenotypic activity (`map`: mean mAP of the
-- perturbations' replicates against the controls, and the share called
-- active, BH q < 0.05) and phenotypic consistency (`map_consistency`: mean
-- mAP of the annotation labels over active perturbations' consensus
-- profiles, and the share of labels called consistent). Means over seeds.
SELECT
  dataset,
  representation,
  postprocessing,
  metric,
  ROUND(AVG(CASE WHEN variant = 'mean_map' THEN value END), 4) AS mean_map,
  ROUND(AVG(CASE WHEN variant IN ('fraction_active', 'fraction_consistent') THEN value END), 4) AS fraction_called,
  MAX(CASE WHEN variant = 'fraction_consistent' THEN 'consistent' WHEN variant = 'fraction_active' THEN 'active' END) AS called,
  MAX(CASE WHEN variant = 'mean_map' THEN n_items END) AS n_tested,
  COUNT(DISTINCT seed) AS seeds
FROM results
WHERE variant IN ('mean_map', 'fraction_active', 'fraction_consistent')
GROUP BY dataset, representation, postprocessing, metric
ORDER BY dataset, metric, representation, postprocessing;
