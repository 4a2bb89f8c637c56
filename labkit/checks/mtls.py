"""Checks on mutual TLS as traffic shows it: who gets through, who is reset, which hops carry a client cert."""
from __future__ import annotations

from ..contract import Lab
from ..constants import TRUST_DOMAIN
from ..model.peerauth import DISABLE, PERMISSIVE, STRICT
from . import hints
from .clients import NO_MTLS_CLIENT, NO_PLAINTEXT_CLIENT, client_has_sidecar, pick_client, service_account
from .mesh import precondition
from .result import CheckResult, checker
from .curl_outcomes import describe_expected
from .state import ROOT_NAMESPACE, MeshView, policy_mode, policy_selector, ref
from .traffic import MIGRATION_NAMESPACES, curl, echoed_headers, hop, matrix



def _plaintext_probe(result, lab: Lab, view, namespace, service, port, mode) -> None:
    client = pick_client(view, sidecar=False, prefer=("legacy",))
    label = "plaintext from a pod without a sidecar"
    if client is None:
        result.add(label, False, "no curl pod without a sidecar", NO_PLAINTEXT_CLIENT)
        return
    outcome = curl(lab, client[0], f"{service}.{namespace}:{port}", "/", client=client[1])
    if mode == STRICT:
        result.add(f"{label} is reset", outcome.reset, f"{outcome.client}: {outcome.label}",
                   hints.not_strict(view, namespace, service, port))
    else:
        result.add(f"{label} gets through", outcome.answered, f"{outcome.client}: {outcome.label}",
                   hints.strict_applies(view, namespace, service, port))


def _mtls_probe(result, lab: Lab, view, namespace, service, port, mode) -> None:
    client = pick_client(view, sidecar=True, prefer=(namespace,) + MIGRATION_NAMESPACES)
    label = "a request from a pod with a sidecar"
    if client is None:
        result.add(label, False, "no curl pod with a sidecar", NO_MTLS_CLIENT)
        return
    seen = hop(lab, client[0], f"{service}.{namespace}:{port}", client=client[1])
    result.add(f"{label} gets through", seen.outcome.answered, f"{seen.outcome.client}: {seen.outcome.label}",
               hints.failed_call(view, client[0], True, namespace, service, port, seen.outcome))
    if not seen.outcome.answered or echoed_headers(seen.outcome) is None:
        return  # only httpbin echoes the headers that prove mTLS
    wanted = mode != DISABLE
    result.add("it arrives over mTLS (X-Forwarded-Client-Cert)" if wanted else "it arrives as plaintext",
               seen.mtls == wanted, f"caller {seen.caller}" if seen.mtls else "no client certificate",
               hints.destination_rule(view, client[0], namespace, service, port, "ISTIO_MUTUAL") if wanted else
               "a DISABLE PeerAuthentication makes in-mesh clients fall back to plaintext")


def _verify_mode(result, lab: Lab, namespace: str, service: str, port: int, mode: str) -> None:
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    if view.service(service, namespace) is None:
        result.add(f"service {service}.{namespace}", False, "not found", hints.missing_deployment(view, namespace, service))
        return
    _plaintext_probe(result, lab, view, namespace, service, port, mode)
    _mtls_probe(result, lab, view, namespace, service, port, mode)


@checker(lambda lab, namespace, service="httpbin", port=8000: f"STRICT mTLS is enforced for {service}.{namespace}")
def strict_enforced(result: CheckResult, lab: Lab, namespace: str, service: str = "httpbin", port: int = 8000) -> None:
    _verify_mode(result, lab, namespace, service, port, STRICT)


@checker(lambda lab, namespace, service="httpbin", port=8000:
         f"{service}.{namespace} accepts mTLS and plaintext (PERMISSIVE)")
def permissive(result: CheckResult, lab: Lab, namespace: str, service: str = "httpbin", port: int = 8000) -> None:
    _verify_mode(result, lab, namespace, service, port, PERMISSIVE)


@checker(lambda lab, mode, namespaces=("foo", "bar"): f"mesh-wide PeerAuthentication sets {mode}")
def mesh_wide_mode(result: CheckResult, lab: Lab, mode: str, namespaces=("foo", "bar")) -> None:
    """The root-namespace policy sets `mode`, and the namespaces without their own policy behave so."""
    view = MeshView(lab)
    policies = [p for p in view.peer_authentications(ROOT_NAMESPACE) if not policy_selector(p)]
    elsewhere = [ref(p) for p in view.peer_authentications() if p["metadata"]["name"] == "default"
                 and p["metadata"]["namespace"] != ROOT_NAMESPACE]
    if not policies:
        result.add(f"a policy without a selector in {ROOT_NAMESPACE}", False, "none",
                   f"the mesh-wide policy lives in the root namespace {ROOT_NAMESPACE}"
                   + (f"; {', '.join(elsewhere)} covers its own namespace only" if elsewhere else ""))
        return
    result.add(f"{ref(policies[0])} sets {mode}", policy_mode(policies[0]) == mode, policy_mode(policies[0]),
               f"set spec.mtls.mode: {mode}")
    for namespace in namespaces:
        own = [ref(p) for p in view.peer_authentications(namespace) if not policy_selector(p)]
        if own:
            result.add(f"{namespace} follows the mesh", True, f"{namespace} has its own policy {own[0]}: not checked")
            continue
        sub = CheckResult("")
        _verify_mode(sub, lab, namespace, "httpbin", 8000, mode)
        for item in sub.items:
            result.add(f"httpbin.{namespace}: {item.label}", item.ok, item.detail, item.hint)


@checker(lambda lab, namespace, service="httpbin", port=8000:
         f"plaintext is allowed on {service}.{namespace}:{port} by a port-level exception")
def port_exception(result: CheckResult, lab: Lab, namespace: str, service: str = "httpbin", port: int = 8000) -> None:
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    svc = view.service(service, namespace)
    if svc is None or not view.endpoints(svc):
        result.add(f"service {service}.{namespace}", False, "not found or no pods",
                   hints.missing_deployment(view, namespace, service))
        return
    sp = svc.port(port) or svc.ports[0]
    pod = view.endpoints(svc)[0]
    effective = view.effective(pod)
    result.add("the workload stays STRICT apart from the exception", effective.mode == STRICT,
               f"workload mode {effective.mode} ({', '.join(effective.applied) or 'no policy'})",
               "keep spec.mtls.mode STRICT on the workload (or namespace/mesh) policy; only the port is relaxed")
    port_mode = effective.port_modes.get(sp.target_port)
    result.add(f"container port {sp.target_port} has its own mode", port_mode in (PERMISSIVE, DISABLE),
               f"{port_mode or 'no portLevelMtls entry'}", hints.port_key(view, namespace, service, port)
               or f"add portLevelMtls: {{{sp.target_port}: {{mode: PERMISSIVE}}}} to a policy selecting the pods")
    _plaintext_probe(result, lab, view, namespace, service, port, PERMISSIVE)
    _mtls_probe(result, lab, view, namespace, service, port, PERMISSIVE)


def _matrix_title(expected: dict | None, default) -> str:
    special = [f"{c} → {s} {e}" for (c, s), e in (expected or {}).items() if str(e) != str(default)]
    return "traffic matrix: " + ("; ".join(special) + f"; the rest {default}" if special else f"all {default}")


@checker(lambda lab, expected=None, default=200, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES:
         _matrix_title(expected, default))
def traffic_matrix_matches(result: CheckResult, lab: Lab, expected: dict | None = None, default=200,
                           clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES) -> None:
    """curl from every client namespace to httpbin in every server namespace; `expected` lists the exceptions,
    e.g. {("legacy", "foo"): "reset"}, everything else must be `default`."""
    if not precondition(result, lab):
        return
    expected = expected or {}
    results = matrix(lab, clients, servers)
    view = MeshView(lab)
    for (c, s), outcome in results.items():
        want = expected.get((c, s), default)
        ok = outcome.matches(want)
        hint = ""
        if not ok:
            if outcome.answered and str(want) == "reset":
                hint = hints.not_strict(view, s, "httpbin", 8000)
            else:
                hint = hints.failed_call(view, c, client_has_sidecar(view, c), s, "httpbin", 8000, outcome)
        result.add(f"{outcome.client} → httpbin.{s}", ok, f"{outcome.label} (expected {describe_expected(want)})", hint)


@checker(lambda lab, client_namespace, server_namespace, mtls=True, server="httpbin":
         f"curl.{client_namespace} → {server}.{server_namespace} is "
         + ("mutual TLS (X-Forwarded-Client-Cert names the caller)" if mtls else "plaintext (no X-Forwarded-Client-Cert)"))
def mtls_hop(result: CheckResult, lab: Lab, client_namespace: str, server_namespace: str, mtls: bool = True,
             server: str = "httpbin") -> None:
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    seen = hop(lab, client_namespace, f"{server}.{server_namespace}:8000")
    deployment = seen.outcome.client.split(".")[0]
    result.add("the request is answered", seen.outcome.answered, seen.outcome.label,
               hints.failed_call(view, client_namespace, client_has_sidecar(view, client_namespace), server_namespace,
                                 server, 8000, seen.outcome))
    if not seen.outcome.answered:
        return
    xfcc = seen.xfcc or "absent"
    if mtls:
        client_sidecar = client_has_sidecar(view, client_namespace, deployment)
        # The server's pods are its Service's endpoints (the selector decides, not an `app` label).
        service = view.service(server, server_namespace)
        server_pods = view.endpoints(service) if service else [p for p in view.pods(server_namespace)
                                                                if p.deployment == server]
        server_sidecar = all(view.has_sidecar(server_namespace, p.name) for p in server_pods)
        hint = (f"{seen.outcome.client} has no sidecar, so it sends plaintext" if not client_sidecar else
                f"{server}.{server_namespace} has no sidecar to terminate mTLS and add the header" if not server_sidecar
                else hints.destination_rule(view, client_namespace, server_namespace, server, 8000, "ISTIO_MUTUAL"))
        result.add("X-Forwarded-Client-Cert is present", seen.mtls, xfcc, hint)
        if seen.mtls:
            caller = f"spiffe://{TRUST_DOMAIN}/ns/{client_namespace}/sa/{service_account(view, client_namespace, deployment)}"
            result.add("it names the caller's SPIFFE id", seen.caller == caller, f"URI={seen.caller}",
                       f"expected URI={caller}")
    else:
        result.add("X-Forwarded-Client-Cert is absent", not seen.mtls, xfcc,
                   "both ends have sidecars, so auto mTLS upgrades this hop; a DestinationRule with tls mode DISABLE "
                   "turns it off")


@checker(lambda lab, namespace, service, expect=200:
         f"a browser outside the mesh reaches {service}.{namespace} on its NodePort: {describe_expected(expect)}")
def node_port_serves(result: CheckResult, lab: Lab, namespace: str, service: str, expect=200) -> None:
    """A plaintext request from this machine (not a pod) to the Service's NodePort, like a browser's."""
    import subprocess
    if not precondition(result, lab):
        return
    url = lab.node_url(namespace, service) + "/"
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url],
                         capture_output=True, text=True, timeout=15)
    got = "reset" if out.returncode == 56 else (out.stdout.strip() if out.returncode == 0 else f"curl {out.returncode}")
    ok = got == str(expect)
    hint = ""
    if not ok and got == "reset":
        hint = ("the browser sends plaintext and the pod's sidecar is STRICT: add portLevelMtls PERMISSIVE for the "
                "CONTAINER port (targetPort) in a workload PeerAuthentication with a selector")
    elif not ok:
        hint = out.stderr.strip() or "is the Service of type NodePort, with pods behind it?"
    result.add(f"curl {url}", ok, f"{got} (expected {describe_expected(expect)})", hint)
