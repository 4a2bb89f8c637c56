"""The instructor's view on a shared cluster: each learner's progress as a ConfigMap in their own namespace.

Learners on different machines share no folder, but they share the cluster. A learner with
`LABKIT_NAMESPACE_PREFIX=alice` may write ConfigMaps in their own namespaces (the workshop learner
Role, deploy/workshop-rbac.yaml, grants configmaps in `alice-*`, which the instructor creates), so the
record the class folder would hold is written as the ConfigMap `labkit-progress` in `alice-default` (the
labs' `default` namespace as the prefix maps it), key `progress.json`, labelled
`labkit.dev/progress=true` and `labkit.dev/learner=alice`. It carries no `labkit.dev/created` label,
so `lab.down()` / `reset_lab` leave it: progress outlives the labs' objects.

The instructor (cluster-wide read) lists ConfigMaps with that label in all namespaces, as
`kubectl get configmaps -A -l labkit.dev/progress=true` does, optionally for some prefixes only.
Several kernels of one learner may publish at once: each write is a read-modify-replace that names the
resourceVersion it read, and Kubernetes answers 409 Conflict when another write came between (its
optimistic concurrency), so the update is retried on the fresh object.
"""
from __future__ import annotations

import json
import random
import time
from typing import Callable

from ..errors import LabkitError
from .kube_client import load_api_client
from .kube_prefix import NamespaceMap

CONFIGMAP = "labkit-progress"
DATA_KEY = "progress.json"
PROGRESS_LABEL = "labkit.dev/progress"
LEARNER_LABEL = "labkit.dev/learner"
HOME_NAMESPACE = "default"     # the lab namespace whose prefixed twin holds the record
# Optimistic concurrency, as client-go's RetryOnConflict: re-read and re-apply after each 409, with a short
# randomised pause so that two kernels of one learner writing in lockstep stop colliding.
WRITE_ATTEMPTS = 20


class ClusterBoard:
    """One learner's progress record on the cluster (`update` edits it as classroom's changes say)."""

    def __init__(self, core, nsmap: NamespaceMap):
        self.core = core
        self.learner = nsmap.prefix or ""
        self.namespace = nsmap.ns(HOME_NAMESPACE)

    def __repr__(self) -> str:
        return f"ConfigMap {self.namespace}/{CONFIGMAP}"

    def _body(self, record: dict, version: str | None) -> dict:
        metadata = {"name": CONFIGMAP, "namespace": self.namespace,
                    "labels": {PROGRESS_LABEL: "true", LEARNER_LABEL: self.learner}}
        if version:
            metadata["resourceVersion"] = version
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                "data": {DATA_KEY: json.dumps(record, indent=1, sort_keys=True)}}

    def read(self) -> tuple[dict | None, str | None]:
        """The record and the resourceVersion it was read at; (None, None) when there is none yet."""
        from kubernetes.client.exceptions import ApiException
        try:
            found = self.core.read_namespaced_config_map(CONFIGMAP, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None, None
            raise
        try:
            record = json.loads((found.data or {}).get(DATA_KEY) or "{}")
        except json.JSONDecodeError:
            record = {}
        return record, found.metadata.resource_version

    def update(self, change: Callable[[dict], None]) -> None:
        from kubernetes.client.exceptions import ApiException
        for _ in range(WRITE_ATTEMPTS):
            record, version = self.read()
            if not isinstance(record, dict) or not isinstance(record.get("steps"), dict):
                record = {"learner": self.learner, "steps": {}}
            record["learner"] = self.learner
            change(record)
            record["updated"] = time.time()
            try:
                if version is None:
                    self.core.create_namespaced_config_map(self.namespace, self._body(record, None))
                else:
                    self.core.replace_namespaced_config_map(CONFIGMAP, self.namespace, self._body(record, version))
                return
            except ApiException as exc:
                if exc.status == 409:      # another kernel wrote first: read its record and apply ours on top
                    time.sleep(random.uniform(0.01, 0.1))
                    continue
                if exc.status == 404 and version is None:
                    raise LabkitError(f"namespace {self.namespace} does not exist, so progress cannot be published",
                                      kind="Namespace", name=self.namespace,
                                      hint="the instructor creates each learner's namespaces "
                                           "(labkit workshop-rbac NAME | kubectl apply -f -)")
                raise
        raise LabkitError(f"progress not published: {WRITE_ATTEMPTS} writes of {self!r} met newer ones",
                          kind="ConfigMap", name=CONFIGMAP, namespace=self.namespace)


def read_cluster_class(core, prefixes: list[str] | None = None) -> list[dict]:
    """Every learner's record on the cluster (those of `prefixes` only, when given), as classroom reads
    the class folder's files: malformed ones are reported in the record, not hidden."""
    wanted = {NamespaceMap(p).prefix for p in prefixes} if prefixes else None
    found = core.list_config_map_for_all_namespaces(label_selector=f"{PROGRESS_LABEL}=true")
    records = []
    for item in sorted(found.items, key=lambda i: (i.metadata.namespace, i.metadata.name)):
        if item.metadata.name != CONFIGMAP:
            continue
        learner = (item.metadata.labels or {}).get(LEARNER_LABEL) or item.metadata.namespace
        if wanted is not None and learner not in wanted:
            continue
        try:
            record = json.loads((item.data or {}).get(DATA_KEY) or "")
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            record = {"steps": {}, "error": f"unreadable: {exc}"}
        record["learner"] = learner
        record["namespace"] = item.metadata.namespace
        records.append(record)
    return records


def cluster_class(context: str | None = None, kubeconfig: str | None = None,
                  prefixes: list[str] | None = None) -> list[dict]:
    """`read_cluster_class` on the cluster of a kubeconfig context (the instructor's)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    api = load_api_client(context, kubeconfig)
    try:
        return read_cluster_class(client.CoreV1Api(api), prefixes)
    except ApiException as exc:
        if exc.status in (401, 403):
            raise LabkitError("the cluster does not let you list ConfigMaps in all namespaces", kind="ConfigMap",
                              hint="the instructor's view needs cluster-wide read (kubectl auth can-i list "
                                   "configmaps -A)")
        raise LabkitError(f"could not read the class from the cluster: {exc.status} {exc.reason}",
                          kind="ConfigMap", hint="check the kubeconfig context (--context)")
    finally:
        api.close()
