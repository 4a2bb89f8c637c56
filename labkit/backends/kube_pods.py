"""KubeLab's pods: listing and waiting for them, exec, rollout restart, logs."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..errors import LabkitError
from .base import ExecResult
from .kube_exec import run_exec
from .progress import Progress
from .kube_views import POD_COLUMNS, default_container, pod_ready, pod_row, pod_status, \
    rollout_state, selector_string
from .kube_client import (FIELD_MANAGER, POD_KINDS, RESTARTED_AT, WORKLOAD_KINDS, now_iso, read_body,
                          server_message)
from .kube_prefix import SYSTEM_NAMESPACES
from .kube_writes import KubeWrites


# A cluster's first pull of the lab images (istio/proxyv2 alone is ~100 MB) takes minutes: `kubectl rollout status`
# waits 10 minutes by default (progressDeadlineSeconds 600); 5 minutes here, with a progress bar, then a clear error.
FIRST_PULL_TIMEOUT = 300.0


class KubePods(KubeWrites):
    # ---------------------------------------------------------------- pods
    def _pods(self, namespace: str | None) -> list[dict]:
        items = self._list(self._resource("v1", "Pod"), namespace)
        return [p for p in items if self.nsmap.owns((p.get("metadata") or {}).get("namespace"))]

    def pods(self, namespace: str | None = None):
        """pandas DataFrame: namespace, pod, ready ("2/2"), sidecar, status, restarts, ip."""
        import pandas as pd

        ns = self.nsmap.ns(namespace) if namespace else None
        rows = [pod_row(p, self.nsmap.unns((p.get("metadata") or {}).get("namespace"))) for p in self._pods(ns)]
        rows.sort(key=lambda r: (r["namespace"] or "", r["pod"] or ""))
        return pd.DataFrame(rows, columns=POD_COLUMNS)

    def wait_ready(self, namespace: str | None = None, timeout: float = FIRST_PULL_TIMEOUT) -> None:
        """Block until the deployments are rolled out and every pod is ready (progress bar in notebooks)."""
        if namespace:
            namespaces: list[str | None] = [self.nsmap.ns(namespace)]
        elif self._touched_namespaces:
            namespaces = list(sorted(self._touched_namespaces))
        else:
            namespaces = [None]
        label = f"pods in {namespace}" if namespace else "pods"
        progress = Progress(f"waiting for {label}")
        deadline = time.monotonic() + float(timeout)
        deploy_res = self._resource("apps/v1", "Deployment")
        while True:
            pods: list[dict] = []
            pending: list[str] = []
            for ns in namespaces:
                pods.extend(self._pods(ns))
                for d in self._list(deploy_res, ns):
                    if not self.nsmap.owns((d.get("metadata") or {}).get("namespace")):
                        continue
                    done, why = rollout_state(d)
                    if not done:
                        pending.append(why)
            live = [p for p in pods if (p.get("status") or {}).get("phase") != "Succeeded"
                    and not (p.get("metadata") or {}).get("deletionTimestamp")]
            ready = [p for p in live if pod_ready(p)]
            not_ready = [p for p in live if not pod_ready(p)]
            text = pending[0] if pending else (
                f"waiting for {not_ready[0]['metadata']['name']} ({pod_status(not_ready[0])})" if not_ready else "")
            progress.update(len(ready), len(live), text)
            if not pending and not not_ready:
                progress.close(True, f"{len(ready)}/{len(live)} pods ready")
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                progress.close(False, "timed out")
                raise self._not_ready_error(namespace, timeout, not_ready, pending)
            time.sleep(min(self.poll_interval, remaining))

    def _not_ready_error(self, namespace, timeout, not_ready: list[dict], pending: list[str]) -> LabkitError:
        lines = []
        statuses = []
        for p in not_ready[:10]:
            row = pod_row(p, self.nsmap.unns(p["metadata"].get("namespace")))
            statuses.append(row["status"])
            lines.append(f"{row['namespace']}/{row['pod']} {row['ready']} {row['status']}")
        lines.extend(pending[:5])
        hint = "lab.pods() shows the pods; lab.logs(namespace, pod) and `kubectl describe pod` say why"
        if any(s in ("ImagePullBackOff", "ErrImagePull", "Init:ImagePullBackOff", "Init:ErrImagePull")
               for s in statuses):
            hint = ("an image cannot be pulled: without internet mirror the images and set LABKIT_IMAGE_MAP "
                    "(see docs/kubernetes.md)")
        elif any("CrashLoopBackOff" in s for s in statuses):
            hint = "a container keeps crashing: lab.logs(namespace, pod) shows why"
        where = f" in {namespace}" if namespace else ""
        return LabkitError(f"pods{where} not ready after {timeout:g}s: " + "; ".join(lines),
                           namespace=namespace, hint=hint)

    def _guard_pod_access(self, namespace: str, target: str, action: str) -> None:
        """In a workshop, istio-system's pods belong to everybody: no exec, logs or restart there (the learner
        role does not allow them either; this says why before the API's 403)."""
        if self.nsmap.enabled and not self.allow_mesh_wide and namespace in SYSTEM_NAMESPACES:
            raise LabkitError(f"refusing to {action} {target} in the shared namespace {namespace} in a workshop "
                              f"(prefix {self.nsmap.prefix!r})", namespace=namespace,
                              hint="the shared control plane is the instructor's: ask them for istiod's log or "
                                   "the gateway's; on a cluster of your own set LABKIT_ALLOW_MESH_WIDE=1")

    def _pick_pod(self, namespace: str, target: str) -> dict:
        """A pod by name, or a Running pod of a deployment/statefulset/daemonset (``NAME`` or ``kind/NAME``)."""
        kind, sep, name = target.partition("/")
        if not sep:
            kind, name = "", target
        kind = kind.lower()
        pod_res = self._resource("v1", "Pod")
        if kind in POD_KINDS or not kind:
            with self._errors("get", kind="Pod", name=name, namespace=namespace):
                pod = self._fetch(pod_res, name, namespace)
            if pod is not None:
                return pod
            if kind:
                raise LabkitError("no such pod", kind="Pod", name=name, namespace=self.nsmap.unns(namespace),
                                  hint="lab.pods(namespace) lists the pods")
        workload_kinds = [WORKLOAD_KINDS[kind]] if kind in WORKLOAD_KINDS else (
            ["Deployment", "StatefulSet", "DaemonSet"] if not kind else [])
        if not workload_kinds:
            raise LabkitError(f"cannot run in {target!r}: give a pod or deployment name", kind=kind,
                              name=name, namespace=self.nsmap.unns(namespace))
        for wkind in workload_kinds:
            try:
                res = self._resource("apps/v1", wkind)
            except LabkitError:
                if len(workload_kinds) == 1:
                    raise
                continue  # a kind this API does not serve holds no workload of that name

            with self._errors("get", kind=wkind, name=name, namespace=namespace):
                workload = self._fetch(res, name, namespace)
            if workload is None:
                continue
            selector = selector_string((workload.get("spec") or {}).get("selector"))
            pods = self._list(pod_res, namespace, selector or None)
            running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"
                       and not (p.get("metadata") or {}).get("deletionTimestamp")]
            running.sort(key=lambda p: (not pod_ready(p), p["metadata"].get("name")))
            if not running:
                raise LabkitError(f"{wkind.lower()} {name} has no running pod", kind=wkind, name=name,
                                  namespace=self.nsmap.unns(namespace),
                                  hint=f"wait for it: lab.wait_ready({self.nsmap.unns(namespace)!r})")
            return running[0]
        raise LabkitError("no pod or deployment of that name", kind="Pod", name=name,
                          namespace=self.nsmap.unns(namespace), hint="lab.pods(namespace) lists the pods")

    def exec(self, namespace: str, target: str, command: list[str], *, container: str | None = None,
             timeout: float = 30) -> ExecResult:
        """Run a command in a pod's container (default: the first that is not istio-proxy)."""
        from kubernetes.client.exceptions import ApiException

        ns = self.nsmap.ns(namespace)
        self._guard_pod_access(ns, target, "exec into")
        if isinstance(command, str):
            raise LabkitError("command must be a list, e.g. ['curl', '-s', 'http://httpbin.foo:8000/ip']")
        pod = self._pick_pod(ns, target)
        pod_name = pod["metadata"]["name"]
        container = container or default_container(pod)
        # Workshop prefix: the lab's hosts and SPIFFE ids in the command become the learner's, and the output
        # reads with the lab's names again (kube_prefix: map_command / unmap_text).
        sent = self.nsmap.map_command(list(command), self._known_lab_namespaces())
        try:
            result = run_exec(self.core, ns, pod_name, container, sent, timeout)
            return replace(result, stdout=self.nsmap.unmap_text(result.stdout),
                           stderr=self.nsmap.unmap_text(result.stderr), command=list(command))
        except ApiException as exc:
            raise LabkitError(f"exec failed: {server_message(exc)}", kind="Pod", name=pod_name, namespace=namespace,
                              hint=f"is container {container!r} running? lab.pods({namespace!r}) shows the pod") from None
        except (OSError, ConnectionError) as exc:
            raise self._unreachable(exc) from None

    def restart(self, namespace: str, target: str) -> None:
        """`kubectl rollout restart`: patch the pod template's restartedAt annotation."""
        ns = self.nsmap.ns(namespace)
        self._guard_pod_access(ns, target, "restart")
        kind, sep, name = target.partition("/")
        if not sep:
            kind, name = "deployment", target
        wkind = WORKLOAD_KINDS.get(kind.lower())
        if wkind is None:
            raise LabkitError(f"cannot restart {target!r}: only deployments, statefulsets and daemonsets restart",
                              name=target, namespace=namespace)
        resource = self._resource("apps/v1", wkind)
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_iso()}}}}}
        with self._errors("restart", kind=wkind, name=name, namespace=ns):
            self._req("patch", resource, body=body, name=name, namespace=ns,
                      content_type="application/strategic-merge-patch+json", field_manager=FIELD_MANAGER)

    def logs(self, namespace: str, target: str, container: str | None = None, tail: int | None = None) -> str:
        """A container's log; ``container="istio-proxy"`` is the sidecar's Envoy access log."""
        ns = self.nsmap.ns(namespace)
        self._guard_pod_access(ns, target, "read the logs of")
        pod = self._pick_pod(ns, target)
        pod_name = pod["metadata"]["name"]
        container = container or default_container(pod)
        kwargs: dict[str, Any] = {"_preload_content": False}
        if container:
            kwargs["container"] = container
        if tail is not None:
            kwargs["tail_lines"] = int(tail)
        with self._errors("logs", kind="Pod", name=pod_name, namespace=ns):
            resp = self.core.read_namespaced_pod_log(pod_name, ns, **kwargs)
        data = read_body(resp)
        return self.nsmap.unmap_text(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
