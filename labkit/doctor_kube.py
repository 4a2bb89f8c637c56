"""Is this machine ready for the labs on a real cluster? One pass/fail line per check, each with a fix.

    from labkit.doctor_kube import kube_doctor, format_report
    print(format_report(kube_doctor()))

Checks: kubeconfig/context, API server reachable (version), Istio CRDs, istiod (and its version from
the image tag), the ingress gateway service and how it is reached, the sidecar injection webhook,
the access-log settings, native sidecars and the learner's permissions (doctor_kube_access.py),
kubectl and istioctl (via `sh`), and version skews (kubectl vs server, istioctl vs istiod).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, Callable

from .contract import EnvironmentItem
from .backends.kube_istio_version import MIN_ISTIO_TEXT, UPGRADE_HINT, istio_too_old
from .doctor_kube_access import native_sidecar_check, permission_check

ISTIO_CRDS = [
    "peerauthentications.security.istio.io",
    "authorizationpolicies.security.istio.io",
    "requestauthentications.security.istio.io",
    "destinationrules.networking.istio.io",
    "virtualservices.networking.istio.io",
    "gateways.networking.istio.io",
]
INSTALL_ISTIO = "istioctl install --set profile=demo -y   (https://istio.io/latest/docs/setup/getting-started/)"
INSTALL_KUBECTL = ("install kubectl: https://kubernetes.io/docs/tasks/tools/ "
                   "(or `apt-get install kubectl` from the Kubernetes apt repository)")
INSTALL_ISTIOCTL = ("install istioctl: `curl -L https://istio.io/downloadIstio | sh -` and put "
                    "istio-*/bin on PATH (optional: labkit falls back to pilot-agent inside the sidecar)")

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def _line(check: str, ok: bool, detail: str, fix: str | None = None) -> dict:
    return {"check": check, "ok": bool(ok), "detail": detail, "fix": None if ok else (fix or "")}


def _minor(version: str | None) -> tuple[int, int] | None:
    m = _VERSION_RE.search(version or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def _json(resp: Any) -> Any:
    data = resp.data if hasattr(resp, "data") else resp
    if hasattr(resp, "release_conn"):
        try:
            resp.release_conn()
        except Exception:  # noqa: BLE001
            pass
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return json.loads(data) if isinstance(data, str) else data


def _api_error(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    if status:
        return f"HTTP {status}" + (f": {message}" if message else "")
    return f"{type(exc).__name__}: {exc}"[:300]


def _tool_version(name: str, args: list[str], parse: Callable[[str], str | None]) -> tuple[str | None, str | None]:
    """(version, error) of a command-line tool run through `sh`; (None, None) when it is not installed."""
    path = shutil.which(name)
    if not path:
        return None, None
    try:
        import sh

        out = str(sh.Command(path)(*args, _timeout=20))
    except Exception as exc:  # noqa: BLE001 - ErrorReturnCode, timeout
        stderr = getattr(exc, "stderr", b"")
        if isinstance(stderr, bytes):
            stderr = stderr.decode("utf-8", "replace")
        text = (stderr or "").strip() or str(exc).strip()
        return None, (text.splitlines()[0][:200] if text else "failed")
    try:
        version = parse(out)
    except Exception:  # noqa: BLE001
        version = None
    if not version and out.strip():
        version = out.strip().splitlines()[0][:80]
    return version, (None if version else "printed no version")


def _kubectl_version(text: str) -> str | None:
    data = json.loads(text)
    return (data.get("clientVersion") or {}).get("gitVersion")


def _istioctl_version(text: str) -> str | None:
    text = text.strip()
    if text.startswith("{"):
        data = json.loads(text)
        return (data.get("clientVersion") or {}).get("version")
    m = _VERSION_RE.search(text)
    return m.group(0) if m else None


def _kubeconfig_check(api_client, context: str | None, kubeconfig: str | None):
    """(check line, api client or None)."""
    if api_client is not None:
        host = getattr(getattr(api_client, "configuration", None), "host", "?")
        return _line("kubeconfig", True, f"using the given API client ({host})"), api_client
    from kubernetes import config

    where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            from .backends.kube_client import load_api_client
            try:
                return _line("kubeconfig", True, "in-cluster service account"), load_api_client()
            except Exception:  # noqa: BLE001
                pass
        return _line("kubeconfig", False, f"no kubeconfig at {where}: {str(exc)[:200]}",
                     "create a cluster (`kind create cluster`, `k3d cluster create`, `minikube start`) or "
                     "set KUBECONFIG to your cluster's kubeconfig"), None
    names = [c.get("name") for c in contexts or []]
    chosen = context or os.environ.get("LABKIT_KUBE_CONTEXT") or (current or {}).get("name")
    if chosen not in names:
        return _line("kubeconfig", False, f"context {chosen!r} not in {where} (have: {', '.join(map(str, names))})",
                     "pick one: `kubectl config use-context NAME` or KubeLab(context=NAME)"), None
    try:
        from .backends.kube_client import load_api_client
        client = load_api_client(chosen, kubeconfig)
    except Exception as exc:  # noqa: BLE001
        return _line("kubeconfig", False, f"context {chosen!r} unusable: {str(exc)[:200]}",
                     "check the credentials of that context (`kubectl config view --minify`)"), None
    host = getattr(client.configuration, "host", "?")
    return _line("kubeconfig", True, f"context {chosen} ({host})"), client


def kube_doctor_items(api_client=None, *, context: str | None = None,
                      kubeconfig: str | None = None) -> list[EnvironmentItem]:
    """kube_doctor's lines in the shape every backend's doctor returns."""
    return [EnvironmentItem(d["check"], d["ok"], d["detail"], d.get("fix") or "")
            for d in kube_doctor(api_client, context=context, kubeconfig=kubeconfig)]


def kube_doctor(api_client=None, *, context: str | None = None, kubeconfig: str | None = None) -> list[dict]:
    """Every check as ``{"check", "ok", "detail", "fix"}`` (fix is None when ok)."""
    from kubernetes import client as k8s

    lines: list[dict] = []
    kc_line, api = _kubeconfig_check(api_client, context, kubeconfig)
    lines.append(kc_line)

    server_version: str | None = None
    if api is None:
        lines.append(_line("API server", False, "not checked: no cluster configured", kc_line["fix"]))
    else:
        try:
            info = _json(k8s.VersionApi(api).get_code(_preload_content=False, _request_timeout=10))
            server_version = info.get("gitVersion")
            lines.append(_line("API server", True, f"reachable, Kubernetes {server_version}"))
        except Exception as exc:  # noqa: BLE001
            host = getattr(getattr(api, "configuration", None), "host", "?")
            lines.append(_line("API server", False, f"{host} not reachable: {_api_error(exc)}",
                               "start the cluster (e.g. `docker start kind-control-plane`, `minikube start`) and "
                               "check `kubectl cluster-info`"))
    reachable = server_version is not None
    skipped = "not checked: the API server is not reachable"
    skip_fix = "fix the API server check first"

    istiod_version: str | None = None
    if not reachable:
        for name in ("Istio CRDs", "istiod", "ingress gateway", "sidecar injection webhook", "access logs",
                     "native sidecars", "permissions"):
            lines.append(_line(name, False, skipped, skip_fix))
    else:
        lines.append(_crd_check(k8s, api))
        line, istiod_version = _istiod_check(k8s, api)
        lines.append(line)
        lines.append(_gateway_check(api))
        lines.append(_webhook_check(k8s, api))
        lines.append(_access_log_check(k8s, api))
        prefix = os.environ.get("LABKIT_NAMESPACE_PREFIX") or None
        lines.append(native_sidecar_check(k8s, api, prefix))
        lines.append(permission_check(k8s, api, prefix))

    kubectl_version, kubectl_err = _tool_version("kubectl", ["version", "--client", "-o", "json"], _kubectl_version)
    if kubectl_version:
        lines.append(_line("kubectl", True, f"kubectl {kubectl_version}"))
    elif kubectl_err:
        lines.append(_line("kubectl", False, f"kubectl is installed but failed: {kubectl_err}", INSTALL_KUBECTL))
    else:
        lines.append(_line("kubectl", False, "kubectl not found on PATH", INSTALL_KUBECTL))

    istioctl_version, istioctl_err = _tool_version("istioctl", ["version", "--remote=false", "-o", "json"],
                                                   _istioctl_version)
    if istioctl_version:
        lines.append(_line("istioctl", True, f"istioctl {istioctl_version}"))
    elif istioctl_err:
        lines.append(_line("istioctl", False, f"istioctl is installed but failed: {istioctl_err}", INSTALL_ISTIOCTL))
    else:
        # Optional: labkit reads the proxies through `pilot-agent` in the sidecar, as istioctl itself does.
        lines.append(_line("istioctl", True, "not installed (optional; " + INSTALL_ISTIOCTL.split(" (", 1)[0] + ")"))

    lines.append(_skew_check(server_version, kubectl_version, istiod_version, istioctl_version))
    if api is not None and api is not api_client:
        try:
            api.close()
        except Exception:  # noqa: BLE001
            pass
    return lines


def _crd_check(k8s, api) -> dict:
    """The Istio kinds the labs write, served at the version they write (networking.istio.io/v1 and
    security.istio.io/v1). Read through discovery, which every authenticated user may read (the
    system:discovery role), so a workshop learner without access to CRD objects gets the same answer."""
    missing: list[str] = []
    old: list[str] = []
    error: str | None = None
    groups: dict[str, list[str]] = {}
    try:
        for group in _json(k8s.ApisApi(api).get_api_versions(_preload_content=False,
                                                              _request_timeout=10)).get("groups") or []:
            groups[group.get("name", "")] = [v.get("version", "") for v in group.get("versions") or []]
    except Exception as exc:  # noqa: BLE001
        error = _api_error(exc)
    served: dict[str, set[str]] = {}
    for group in {crd.split(".", 1)[1] for crd in ISTIO_CRDS}:
        if error or "v1" not in groups.get(group, []):
            continue
        try:
            listed = _json(k8s.CustomObjectsApi(api).get_api_resources(group, "v1", _preload_content=False,
                                                                       _request_timeout=10))
            served[group] = {r.get("name", "") for r in listed.get("resources") or []}
        except Exception as exc:  # noqa: BLE001
            error = _api_error(exc)
    if error:
        return _line("Istio CRDs", False, f"cannot read the API's discovery: {error}",
                     "check `kubectl api-resources --api-group=networking.istio.io`")
    for crd in ISTIO_CRDS:
        plural, group = crd.split(".", 1)
        if plural in served.get(group, set()):
            continue
        (old if groups.get(group) else missing).append(crd)
    if old:
        return _line("Istio CRDs", False, f"served only at older versions ({', '.join(old)}): the labs' "
                     f"networking.istio.io/v1 needs Istio {MIN_ISTIO_TEXT} or later", UPGRADE_HINT)
    if missing:
        return _line("Istio CRDs", False, f"missing: {', '.join(missing)}", INSTALL_ISTIO)
    return _line("Istio CRDs", True, f"{len(ISTIO_CRDS)} Istio kinds served at v1 (peerauthentications."
                 "security.istio.io, ...)")


def _istiod_check(k8s, api) -> tuple[dict, str | None]:
    try:
        dep = _json(k8s.AppsV1Api(api).read_namespaced_deployment("istiod", "istio-system", _preload_content=False,
                                                                   _request_timeout=10))
    except Exception as exc:  # noqa: BLE001
        if getattr(exc, "status", None) == 404:
            return _line("istiod", False, "no istiod deployment in istio-system: Istio is not installed",
                         INSTALL_ISTIO), None
        return _line("istiod", False, f"cannot read istio-system/istiod: {_api_error(exc)}",
                     "your account needs to read deployments in istio-system"), None
    containers = (((dep.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    image = next((c.get("image") for c in containers if c.get("name") == "discovery"),
                 containers[0].get("image") if containers else "")
    version = image.rsplit(":", 1)[1] if image and ":" in image.rsplit("/", 1)[-1] else None
    status = dep.get("status") or {}
    want = (dep.get("spec") or {}).get("replicas", 1)
    ready = int(status.get("readyReplicas") or 0)
    detail = f"istiod {version or '(unknown version)'}, {ready}/{want} ready ({image})"
    if istio_too_old(version):
        return _line("istiod", False, f"{detail}: the labs' networking.istio.io/v1 needs Istio "
                     f"{MIN_ISTIO_TEXT} or later", UPGRADE_HINT), version
    if ready < 1:
        return _line("istiod", False, detail, "istiod is not ready: `kubectl -n istio-system get pods`, "
                     "`kubectl -n istio-system logs deploy/istiod`"), version
    return _line("istiod", True, detail), version


def _gateway_check(api) -> dict:
    from .backends.kube import KubeLab
    from .errors import LabkitError

    try:
        lab = KubeLab(api_client=api, namespace_prefix="")
        url = lab.gateway_url(80)
    except LabkitError as exc:
        return _line("ingress gateway", False, exc.message, exc.hint or INSTALL_ISTIO)
    except Exception as exc:  # noqa: BLE001
        return _line("ingress gateway", False, f"cannot look up the gateway: {str(exc)[:200]}", INSTALL_ISTIO)
    how = ("from LABKIT_GATEWAY_URL" if os.environ.get("LABKIT_GATEWAY_URL")
           or os.environ.get("LABKIT_GATEWAY_URL_80") else "from the istio-ingressgateway service")
    return _line("ingress gateway", True, f"reached at {url} ({how})")


def _webhook_check(k8s, api) -> dict:
    try:
        data = _json(k8s.AdmissionregistrationV1Api(api).list_mutating_webhook_configuration(
            _preload_content=False, _request_timeout=10))
    except Exception as exc:  # noqa: BLE001
        return _line("sidecar injection webhook", False, f"cannot list webhooks: {_api_error(exc)}",
                     "your account needs to list mutatingwebhookconfigurations")
    names = [(i.get("metadata") or {}).get("name", "") for i in data.get("items") or []]
    found = [n for n in names if n.startswith("istio-sidecar-injector")]
    if not found:
        return _line("sidecar injection webhook", False,
                     "no istio-sidecar-injector MutatingWebhookConfiguration: pods will get no sidecar",
                     INSTALL_ISTIO)
    return _line("sidecar injection webhook", True, ", ".join(found))


ACCESS_LOG_FIX = ("the labs read the proxies' access logs (`kubectl logs POD -c istio-proxy`): turn them on mesh-wide "
                  "with `istioctl install --set profile=demo -y` (it sets meshConfig.accessLogFile=/dev/stdout), "
                  "`istioctl install --set meshConfig.accessLogFile=/dev/stdout`, or a Telemetry in istio-system: "
                  "spec.accessLogging: [{providers: [{name: envoy}]}]")


def _access_log_check(k8s, api) -> dict:
    """Whether every proxy writes an access log to stdout, from the mesh config (ConfigMap istio-system/istio)
    and istio-system's Telemetry, decided by the one rule in model.access_logging."""
    from .model.access_logging import STDOUT, mesh_wide_access_logs
    from .model.mesh import build_model

    objects: list[dict] = []
    try:
        config_map = _json(k8s.CoreV1Api(api).read_namespaced_config_map("istio", "istio-system",
                                                                          _preload_content=False,
                                                                          _request_timeout=10))
        objects.append({**config_map, "kind": "ConfigMap"})
    except Exception as exc:  # noqa: BLE001
        if getattr(exc, "status", None) != 404:
            return _line("access logs", True, f"not checked: cannot read ConfigMap istio-system/istio "
                         f"({_api_error(exc)}); ask the cluster admin whether access logs are on")
    try:
        listed = _json(k8s.CustomObjectsApi(api).list_namespaced_custom_object(
            "telemetry.istio.io", "v1", "istio-system", "telemetries", _preload_content=False, _request_timeout=10))
        objects += [{**t, "kind": "Telemetry"} for t in listed.get("items") or []]
    except Exception:  # noqa: BLE001 - no Telemetry API, or not readable: the mesh config decides
        pass
    model = build_model(objects, 0)
    sides = {mode: [log for log in mesh_wide_access_logs(model, mode) if log.path == STDOUT]
             for mode in ("CLIENT", "SERVER")}
    if not all(sides.values()):
        off = " and ".join(mode.lower() for mode, logs in sides.items() if not logs)
        return _line("access logs", False, f"proxies write no access log to stdout on the {off} side", ACCESS_LOG_FIX)
    encoding = "JSON" if sides["SERVER"][0].json_fields else "TEXT"
    return _line("access logs", True, f"every proxy logs to stdout ({encoding})")


def _skew_check(server: str | None, kubectl: str | None, istiod: str | None, istioctl: str | None) -> dict:
    problems: list[str] = []
    notes: list[str] = []
    s, k = _minor(server), _minor(kubectl)
    if s and k:
        diff = abs(s[1] - k[1]) if s[0] == k[0] else 99
        (problems if diff > 1 else notes).append(f"kubectl {kubectl} vs server {server} (skew {diff})")
    d, c = _minor(istiod), _minor(istioctl)
    if d and c:
        (problems if d != c else notes).append(f"istioctl {istioctl} vs istiod {istiod}")
    if problems:
        return _line("version skew", False, "; ".join(problems),
                     "use a kubectl within one minor version of the server and the istioctl of the installed "
                     "Istio release")
    if not notes:
        return _line("version skew", True, "nothing to compare (tools or server versions unknown)")
    return _line("version skew", True, "; ".join(notes))


def format_report(lines: list[dict]) -> str:
    """The checks as text: `[ok]`/`[FAIL]` lines, each failure followed by its fix."""
    out = []
    for line in lines:
        mark = "ok  " if line["ok"] else "FAIL"
        out.append(f"[{mark}] {line['check']}: {line['detail']}")
        if not line["ok"] and line.get("fix"):
            out.append(f"       fix: {line['fix']}")
    return "\n".join(out)


def main() -> int:
    lines = kube_doctor()
    print(format_report(lines))
    return 0 if all(line["ok"] for line in lines) else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
