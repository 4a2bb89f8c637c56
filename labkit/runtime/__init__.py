"""Stage 4 of the pipeline: real processes (Envoy, sample apps), their files, health and logs."""
