"""`labkit doctor` per backend: the local machine's tools and limits, or the cluster and its Istio.

The doctors depend on the backends (the kube doctor builds a KubeLab to find the gateway), so the
choice lives here, next to the backends, and not on the Lab itself.
"""
from __future__ import annotations

from ..contract import EnvironmentItem

KUBE_NAMES = ("kube", "kubernetes", "k8s")


def doctor(backend: str, api_client=None) -> list[EnvironmentItem]:
    """Every doctor line for a backend name ("local", "kube"); `api_client` is the cluster to check."""
    if backend.lower() in KUBE_NAMES:
        from ..doctor_kube import kube_doctor_items
        return kube_doctor_items(api_client)
    from ..doctor import local_doctor
    return local_doctor()
