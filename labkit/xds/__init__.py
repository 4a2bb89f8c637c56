"""The mesh's control plane: xDS over gRPC (ADS), like istiod, for every Envoy of one local mesh."""
