"""Which pods to send test traffic from: a curl (or sleep) pod with a sidecar, and one without."""
from __future__ import annotations

from ..constants import TRUST_DOMAIN
from .state import MeshView
from .traffic import CLIENT_APPS


def client_pods(view: MeshView) -> list[tuple[str, str, bool]]:
    """(namespace, deployment, has sidecar) for every running curl/sleep deployment."""
    found = []
    for deployment in view.of_kind("Deployment"):
        name, namespace = deployment["metadata"]["name"], deployment["metadata"]["namespace"]
        if name not in CLIENT_APPS:
            continue
        rows = [r for r in view.deployment_pods(namespace, name) if r["status"] == "Running"]
        if rows:
            found.append((namespace, name, all(bool(r["sidecar"]) for r in rows)))
    return found


def pick_client(view: MeshView, sidecar: bool, prefer: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(namespace, deployment) of a client with (or without) a sidecar, from the preferred namespaces first."""
    candidates = [(ns, name) for ns, name, has in client_pods(view) if has == sidecar]
    candidates.sort(key=lambda c: (prefer.index(c[0]) if c[0] in prefer else len(prefer), c[0], c[1]))
    return candidates[0] if candidates else None


def client_has_sidecar(view: MeshView, namespace: str, deployment: str | None = None) -> bool:
    rows = [r for name in ((deployment,) if deployment else CLIENT_APPS) for r in view.deployment_pods(namespace, name)]
    return bool(rows) and all(bool(r["sidecar"]) for r in rows)


def service_account(view: MeshView, namespace: str, deployment: str) -> str:
    obj = view.find("Deployment", deployment, namespace) or {}
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"


NO_PLAINTEXT_CLIENT = ("deploy curl in a namespace without sidecar injection (legacy in these labs) so plaintext can "
                       "be tested")
NO_MTLS_CLIENT = "deploy curl in a namespace with sidecar injection (foo or bar in these labs)"


def principal_of(view: MeshView, namespace: str, deployment: str) -> str:
    """The identity a workload's sidecar presents, as AuthorizationPolicy `principals` name it
    (<trust domain>/ns/<namespace>/sa/<service account>)."""
    return f"{TRUST_DOMAIN}/ns/{namespace}/sa/{service_account(view, namespace, deployment)}"
