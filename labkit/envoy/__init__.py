"""Stage 3 of the pipeline: pure functions from the resolved model to Envoy xDS resources."""
