"""Stage 1 of the pipeline: Kubernetes/Istio resources as a learner writes them."""
