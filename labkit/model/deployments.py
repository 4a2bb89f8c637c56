"""The deployment controller and the sidecar injector, as pure functions over stored objects.

Injection happens only when a pod is created (Istio's mutating webhook), so labelling a namespace
changes nothing for running pods until a restart replaces them; that is what lab 01 shows.
"""
from __future__ import annotations

import copy
import hashlib
import json
import secrets as random_names

from ..constants import PROXY_CONTAINER
from .addressing import MAX_POD_INDEX
from .injection import wants_sidecar
from .owners import HASH_LABEL, owner_deployment, replica_set_name
from ..errors import LabkitError

PROXY_IMAGE = "docker.io/istio/proxyv2:1.28.0"
SIDECAR = PROXY_CONTAINER
NATIVE_ANNOTATION = "sidecar.istio.io/nativeSidecar"
USER_VOLUME = "sidecar.istio.io/userVolume"
USER_VOLUME_MOUNT = "sidecar.istio.io/userVolumeMount"


# Kubernetes' name suffixes use this alphabet (apimachinery util/rand SafeEncodeString: no vowels, no
# look-alikes), so pod names look as on a cluster: httpbin-6d8b9f7c4b-x2v9k.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _safe_encode(number: int, length: int) -> str:
    out = []
    for _ in range(length):
        number, digit = divmod(number, len(SAFE_ALPHABET))
        out.append(SAFE_ALPHABET[digit])
    return "".join(out)


# id of a pod template → (the template, its hash). The store hands out the same objects until they change,
# so a reconcile hashes only new templates (every Deployment's, at every change, was linear in pods).
_TEMPLATE_HASHES: dict[int, tuple[dict, str]] = {}
_TEMPLATE_HASHES_LIMIT = 4096


def template_hash(deployment: dict) -> str:
    """The `pod-template-hash` of the Deployment's pod template (10 characters, as a ReplicaSet's). A caller
    does not change a template after hashing it (the store's objects are not changed in place)."""
    template = deployment["spec"]["template"]
    known = _TEMPLATE_HASHES.get(id(template))
    if known is not None and known[0] is template:
        return known[1]
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    value = _safe_encode(int.from_bytes(digest[:8], "big"), 10)
    if len(_TEMPLATE_HASHES) >= _TEMPLATE_HASHES_LIMIT:
        _TEMPLATE_HASHES.clear()
    _TEMPLATE_HASHES[id(template)] = (template, value)
    return value


def user_volumes(annotations: dict, key: str) -> list[dict]:
    """The volumes (USER_VOLUME) or istio-proxy volumeMounts (USER_VOLUME_MOUNT) a pod asks the injector for.

    Istio's template ranges over the annotation's JSON (`fromJSON`) and writes `name: <key>` then the value:
    a map gives each entry its key as name (`{"certs": {"mountPath": "/etc/certs"}}`, Istio's test data); a
    list's items carry their own `name` (Istio's Prometheus sample). JSON that does not parse adds nothing
    (istiod logs "Unable to unmarshal")."""
    try:
        value = json.loads(annotations.get(key) or "{}")
    except ValueError:
        return []
    if isinstance(value, dict):
        return [{"name": str(name), **entry} for name, entry in value.items() if isinstance(entry, dict)]
    if isinstance(value, list):
        return [dict(entry) for entry in value if isinstance(entry, dict) and entry.get("name")]
    return []


def _inject(spec: dict, labels: dict, annotations: dict, deployment: str, native: bool) -> None:
    """What Istio's injection template adds (manifests/charts/istio-control/istio-discovery/files/
    injection-template.yaml), the parts a learner sees: istio-init, istio-proxy, labels, annotations.

    Istio 1.28+ (ENABLE_NATIVE_SIDECARS=auto, kubelet >= 1.33) injects istio-proxy as a native sidecar,
    an init container with `restartPolicy: Always`; otherwise as a regular container. The annotation
    `sidecar.istio.io/nativeSidecar` on the pod template overrides the global choice."""
    choice = annotations.get(NATIVE_ANNOTATION)
    if choice in ("true", "false"):
        native = choice == "true"
    app_containers = [c["name"] for c in spec.get("containers", []) if c.get("name") != SIDECAR]
    init = spec.setdefault("initContainers", [])
    init.append({"name": "istio-init", "image": PROXY_IMAGE, "args": ["istio-iptables"]})
    proxy: dict = {"name": SIDECAR, "image": PROXY_IMAGE, "args": ["proxy", "sidecar"]}
    # Files for istio-proxy itself, e.g. the CA a DestinationRule's caCertificates names.
    mounts = user_volumes(annotations, USER_VOLUME_MOUNT)
    if mounts:
        proxy["volumeMounts"] = mounts
    volumes = user_volumes(annotations, USER_VOLUME)
    if volumes:
        spec.setdefault("volumes", []).extend(volumes)
    if native:
        init.append({**proxy, "restartPolicy": "Always"})
    else:
        spec.setdefault("containers", []).append(proxy)
    labels["security.istio.io/tlsMode"] = "istio"
    labels.setdefault("service.istio.io/canonical-name", labels.get("app", deployment))
    labels.setdefault("service.istio.io/canonical-revision", labels.get("version", "latest"))
    annotations["sidecar.istio.io/status"] = json.dumps(
        {"initContainers": ["istio-init", SIDECAR] if native else ["istio-init"],
         "containers": None if native else [SIDECAR]}, separators=(",", ":"))
    if app_containers:
        annotations.setdefault("kubectl.kubernetes.io/default-container", app_containers[0])
        annotations.setdefault("kubectl.kubernetes.io/default-logs-container", app_containers[0])


def _make_pod(deployment: dict, namespace_labels: dict, index: int, thash: str, native: bool = True) -> dict:
    meta = deployment["metadata"]
    template = copy.deepcopy(deployment["spec"]["template"])
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    annotations = dict((template.get("metadata") or {}).get("annotations") or {})
    labels[HASH_LABEL] = thash
    spec = template.get("spec") or {}
    if not any(c.get("image", "").find("istio/proxyv2") >= 0 for c in spec.get("containers", [])) \
            and wants_sidecar(namespace_labels, labels, annotations, meta.get("namespace")):
        _inject(spec, labels, annotations, meta["name"], native)
    replica_set = replica_set_name(meta["name"], thash)
    name = f"{replica_set}-{_safe_encode(random_names.randbits(32), 5)}"
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set, "controller": True,
             "blockOwnerDeletion": True}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                         "annotations": annotations, "ownerReferences": [owner]},
            "spec": spec, "status": {"index": index}}


class AddressAllocator:
    """Which pod index (address 127.<subnet>.<index>.x) a new pod gets: the next free one after the last
    handed out, wrapping around, as the CNI host-local IPAM plugin allocates pod IPs (it remembers the last
    reserved IP). A new pod therefore does not take the address a deleted pod had just used, so access-log
    lines that name the old pod's address are not mistaken for the new pod's traffic."""

    def __init__(self, last: int = 1):
        self.last = last

    def allocate(self, used: set[int]) -> int | None:
        size = MAX_POD_INDEX - 1        # indexes 2..MAX_POD_INDEX (1 is the control plane's)
        for step in range(1, size + 1):
            index = 2 + (self.last - 2 + step) % size
            if index not in used:
                self.last = index
                return index
        return None


def reconcile_pods(objects: list[dict], native_sidecars: bool = True, addresses: AddressAllocator | None = None,
                   ) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Pods to create and pod keys to delete so each Deployment runs `replicas` current pods. `addresses`
    hands out pod indexes (default: a fresh allocator, i.e. the lowest free ones)."""
    addresses = addresses or AddressAllocator()
    namespaces = {o["metadata"]["name"]: o["metadata"].get("labels") or {} for o in objects
                  if o["kind"] == "Namespace"}
    deployments = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects
                   if o["kind"] == "Deployment"}
    pods = [o for o in objects if o["kind"] == "Pod"]
    used = {int(p.get("status", {}).get("index", 0)) for p in pods}
    create: list[dict] = []
    delete: list[tuple[str, str, str]] = []
    # Each Deployment's template hashed once per reconcile (a sha256 of its JSON, asked for each pod too).
    hashes = {key: template_hash(d) for key, d in deployments.items()}
    # Each pod's owner once (asking per Deployment made a reconcile quadratic in pods).
    owned: dict[tuple[str, str | None], list[dict]] = {}
    for pod in pods:
        owner = (pod["metadata"]["namespace"], owner_deployment(pod["metadata"]))
        owned.setdefault(owner, []).append(pod)
        if owner not in deployments or pod["metadata"]["labels"].get(HASH_LABEL) != hashes[owner]:
            delete.append(("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"]))
    doomed = {key[2] for key in delete}
    for (namespace, name), deployment in sorted(deployments.items()):
        thash = hashes[(namespace, name)]
        current = [p for p in owned.get((namespace, name), []) if p["metadata"]["name"] not in doomed]
        replicas = deployment["spec"].get("replicas", 1)
        for extra in current[replicas:]:
            delete.append(("Pod", namespace, extra["metadata"]["name"]))
        for _ in range(replicas - len(current)):
            index = addresses.allocate(used)
            if index is None:
                raise LabkitError(f"the local mesh holds at most {MAX_POD_INDEX - 1} pods", kind="Deployment",
                                  name=name, namespace=namespace)
            used.add(index)
            create.append(_make_pod(deployment, namespaces.get(namespace, {}), index, thash, native_sidecars))
    return create, delete
