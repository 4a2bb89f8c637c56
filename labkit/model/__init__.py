"""Stage 2 of the pipeline: the resolved mesh (pods, services, identities, effective policies)."""
from .mesh import MeshModel, Pod, Service, ServicePort, build_model

__all__ = ["MeshModel", "Pod", "Service", "ServicePort", "build_model"]
