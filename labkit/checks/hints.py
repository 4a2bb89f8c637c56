"""Likely causes of a failed check, read from the configuration: the mistakes learners actually make.

Each function returns a short sentence (or "") naming the cause and the fix; checks attach it to the
failed item. Only configuration is inspected here; what traffic did is the caller's evidence.
"""
from __future__ import annotations

from ..model import fqdn
from ..model.destrule import credential_ignored_at_sidecar, dr_host
from ..model.hostmatch import exported_to
from ..model.peerauth import DISABLE, STRICT, ignored_policies, level_policy
from .state import ROOT_NAMESPACE, INJECTION_LABEL, MeshView, labels_text, policy_mode, policy_selector, ref


def rule_ref(rule: str | None) -> str:
    """The model names rules `name.namespace`; kubectl shows `namespace/name`."""
    name, _, namespace = (rule or "").rpartition(".")
    return f"{namespace}/{name}"


def join(causes) -> str:
    return " ".join(dict.fromkeys(c for c in causes if c))


# -- namespaces and sidecars ---------------------------------------------------------------------------
def injection(view: MeshView, namespace: str) -> str:
    if not view.namespace_exists(namespace):
        return f"namespace {namespace} does not exist: create it (kubectl create namespace {namespace})."
    labels = view.namespace_labels(namespace)
    value = labels.get(INJECTION_LABEL)
    if value is not None and value != "enabled":
        return f"the label is {INJECTION_LABEL}={value}: the value must be exactly 'enabled'."
    near = [k for k in labels if k != INJECTION_LABEL and "inject" in k.lower()]
    if near:
        return f"label {near[0]!r} is not what the injector reads: the key is {INJECTION_LABEL}."
    return (f"label it: kubectl label namespace {namespace} {INJECTION_LABEL}=enabled "
            f"(lab.label_namespace('{namespace}', {{'{INJECTION_LABEL}': 'enabled'}})).")


def missing_sidecar(view: MeshView, namespace: str, pod_name: str) -> str:
    pod = next((p for p in view.pods(namespace) if p.name == pod_name), None)
    opt_out = pod is not None and str(pod.labels.get("sidecar.istio.io/inject",
                                                      pod.annotations.get("sidecar.istio.io/inject"))).lower() == "false"
    if opt_out:
        return "the pod template says sidecar.istio.io/inject: \"false\"; remove it and restart."
    if not view.injection_enabled(namespace):
        return f"namespace {namespace} is not labelled for injection: " + injection(view, namespace)
    deployment = (pod.deployment if pod else None) or pod_name.rsplit("-", 2)[0]
    return (f"the namespace is labelled, but {pod_name} was created before the label: injection happens only when "
            f"a pod is created. Restart it: kubectl rollout restart deployment/{deployment} -n {namespace} "
            f"(lab.restart('{namespace}', '{deployment}')).")


def unexpected_sidecar(view: MeshView, namespace: str) -> str:
    if view.injection_enabled(namespace):
        return (f"namespace {namespace} is labelled for injection; remove the label "
                f"(kubectl label namespace {namespace} {INJECTION_LABEL}-) and restart the deployments.")
    return "the pod template asks for a sidecar (sidecar.istio.io/inject: \"true\")."


def missing_deployment(view: MeshView, namespace: str, name: str) -> str:
    elsewhere = sorted(d["metadata"]["namespace"] for d in view.of_kind("Deployment") if d["metadata"]["name"] == name)
    if elsewhere:
        return (f"{name} is in namespace {', '.join(elsewhere)}, not {namespace}: apply it with -n {namespace} "
                f"(lab.apply(..., namespace='{namespace}')).")
    return f"deploy it: lab.apply(samples.sample('{name}'), namespace='{namespace}')."


def missing_secrets(view: MeshView, namespace: str, deployment: str) -> str:
    obj = view.find("Deployment", deployment, namespace)
    if obj is None:
        return ""
    have = sorted(s["metadata"]["name"] for s in view.of_kind("Secret", namespace))
    for volume in ((obj["spec"].get("template") or {}).get("spec") or {}).get("volumes") or []:
        name = (volume.get("secret") or {}).get("secretName")
        if name and name not in have:
            return (f"deployment {namespace}/{deployment} mounts secret {name!r}, but namespace {namespace} has no such "
                    f"secret (secrets there: {', '.join(have) or 'none'}): the names must match.")
    return ""


# -- PeerAuthentication ----------------------------------------------------------------------------------
def _target(view: MeshView, namespace: str, service_name: str, port: int):
    service = view.service(service_name, namespace)
    if service is None:
        return None, None, f"there is no Service {service_name} in namespace {namespace}."
    sp = service.port(port) or (service.ports[0] if service.ports else None)
    if sp is None:
        return service, None, f"Service {namespace}/{service_name} has no ports."
    if not view.endpoints(service):
        return service, sp, f"Service {namespace}/{service_name} selects no pod."
    return service, sp, ""


def not_strict(view: MeshView, namespace: str, service_name: str, port: int) -> str:
    """Why plaintext got through to a service that should be STRICT."""
    service, sp, problem = _target(view, namespace, service_name, port)
    if problem:
        return problem
    causes = []
    for pod in view.endpoints(service):
        if not view.has_sidecar(namespace, pod.name):
            causes.append(f"{pod.name} has no sidecar, so nothing there enforces mTLS: "
                          + missing_sidecar(view, namespace, pod.name))
            continue
        effective = view.effective(pod)
        mode = effective.for_port(sp.target_port)
        if mode == STRICT:
            continue
        if sp.target_port in effective.port_modes:
            causes.append(f"portLevelMtls of {effective.applied[-1]} makes container port {sp.target_port} {mode}.")
        elif effective.applied:
            causes.append(f"the policies that apply ({', '.join(effective.applied)}) leave it {mode}.")
    causes.extend(misplaced_strict(view, namespace))
    causes.extend(duplicates(view, namespace))
    if not causes:
        causes.append(f"no PeerAuthentication with mode STRICT applies to {namespace}: apply one named default in "
                      f"namespace {namespace} (or in {ROOT_NAMESPACE} for the whole mesh).")
    return join(causes)


def misplaced_strict(view: MeshView, namespace: str) -> list[str]:
    out = []
    for policy in view.peer_authentications():
        if policy_mode(policy) != STRICT:
            continue
        pns, selector = policy["metadata"]["namespace"], policy_selector(policy)
        if pns == ROOT_NAMESPACE and selector:  # model.peerauth.ignored_policies says why: root + selector
            out.append(f"{ref(policy)} has a selector in the root namespace {ROOT_NAMESPACE}: istiod ignores it.")
        elif pns not in (namespace, ROOT_NAMESPACE):
            out.append(f"the STRICT policy {ref(policy)} is in namespace {pns}, not {namespace}, so it covers {pns} "
                       f"only: set metadata.namespace: {namespace} (or apply with -n {namespace}).")
        elif pns == namespace and selector and not any(p.matches(selector) for p in view.pods(namespace)):
            labels = "; ".join(sorted({labels_text(p.labels) for p in view.pods(namespace)})) or "no pods"
            out.append(f"the selector {selector} of {ref(policy)} matches no pod in {namespace} "
                       f"(pod labels: {labels}).")
    return out


def duplicates(view: MeshView, namespace: str) -> list[str]:
    """Several selector-less policies at one level: the oldest wins and istiod ignores the others."""
    out = []
    ignored = [p for p, _ in ignored_policies(view.model) if not policy_selector(p)]
    for level in {namespace, ROOT_NAMESPACE}:
        winner = level_policy(view.model, level)
        others = [p for p in ignored if p["metadata"]["namespace"] == level]
        if winner is not None and others:
            out.append(f"{len(others) + 1} policies without a selector in {level}: the oldest, {ref(winner)} "
                       f"({policy_mode(winner)}), wins and the others are ignored.")
    return out


def strict_applies(view: MeshView, namespace: str, service_name: str, port: int) -> str:
    """Why a plaintext request was reset: name the policies that make the server STRICT."""
    service, sp, problem = _target(view, namespace, service_name, port)
    if problem:
        return problem
    for pod in view.endpoints(service):
        effective = view.effective(pod)
        if effective.for_port(sp.target_port) == STRICT:
            return (f"{service_name}.{namespace} is STRICT (policies: {', '.join(effective.applied)}), so plaintext from a "
                    f"pod without a sidecar is reset. Delete the policy, or allow plaintext on this port with a "
                    f"workload policy's portLevelMtls (keyed by the container port, {sp.target_port}).")
    return ""


def port_key(view: MeshView, namespace: str, service_name: str, port: int) -> str:
    """The classic portLevelMtls mistake: keying it by the Service port instead of the container port."""
    service, sp, problem = _target(view, namespace, service_name, port)
    if problem:
        return problem
    for policy in view.peer_authentications(namespace):
        keys = {int(k) for k in ((policy.get("spec") or {}).get("portLevelMtls") or {})}
        if not keys:
            continue
        if not policy_selector(policy):
            return f"{ref(policy)} has portLevelMtls but no selector: portLevelMtls needs a workload selector."
        if sp.port in keys and sp.target_port not in keys and sp.port != sp.target_port:
            return (f"{ref(policy)} keys portLevelMtls by {sp.port}, the Service port; it must be the container port "
                    f"{sp.target_port}.")
        if not any(p.matches(policy_selector(policy)) for p in view.endpoints(service)):
            return f"the selector {policy_selector(policy)} of {ref(policy)} does not match the {service_name} pods."
    return ""


# -- AuthorizationPolicy ---------------------------------------------------------------------------------
def principal_typos(view: MeshView, namespace: str) -> list[str]:
    """Principals in ALLOW/DENY rules that name no workload of the mesh, with the closest real one."""
    import difflib
    known = sorted({p.principal for p in view.model.pods})
    out = []
    for policy in view.model_policies("AuthorizationPolicy"):
        if policy["metadata"]["namespace"] not in (namespace, ROOT_NAMESPACE):
            continue
        for rule in (policy.get("spec") or {}).get("rules") or []:
            for source in rule.get("from") or []:
                for principal in (source.get("source") or {}).get("principals") or []:
                    if principal.startswith("spiffe://"):
                        out.append(f"{ref(policy)}: write principals without spiffe:// "
                                   f"({principal.removeprefix('spiffe://')}).")
                    elif "*" not in principal and principal not in known:
                        close = difflib.get_close_matches(principal, known, n=1, cutoff=0.8)
                        out.append(f"{ref(policy)}: principal {principal!r} is no workload's identity"
                                   + (f"; did you mean {close[0]!r}?" if close else
                                      " (the form is cluster.local/ns/<namespace>/sa/<service account>)."))
    return out


# -- DestinationRule -----------------------------------------------------------------------------------
def destination_rule(view: MeshView, client_namespace: str, namespace: str, service_name: str, port: int,
                     wanted: str) -> str:
    """Why a client does not use the TLS mode `wanted` towards a service."""
    service, sp, problem = _target(view, namespace, service_name, port)
    if problem:
        return problem
    chosen = view.destination_rule(client_namespace, service)
    causes = []
    for rule in view.model_policies("DestinationRule"):
        host, resolved = rule["spec"].get("host", ""), dr_host(rule)
        rns = rule["metadata"]["namespace"]
        if resolved != service.fqdn:
            if host.split(".")[0] == service.name:
                causes.append(f"{ref(rule)} has host {host!r}, which in namespace {rns} means {resolved}"
                              + (f" ({fqdn.explain_unresolved(host, rns)})" if "." in host else "")
                              + f"; write {service.fqdn}.")
            continue
        if (rule.get("spec") or {}).get("workloadSelector"):
            causes.append(f"{ref(rule)} has a workloadSelector, so it applies only to the selected clients.")
        elif not exported_to(rule, client_namespace):
            causes.append(f"{ref(rule)} is not exported to {client_namespace} (exportTo).")
        elif chosen is not None and rule is not chosen and ref(rule) != ref(chosen):
            causes.append(f"{ref(chosen)} wins over {ref(rule)}: the client's own namespace is looked up first, "
                          f"then the service's, then {ROOT_NAMESPACE}.")
    tls = view.client_tls(client_namespace, service, sp.port)
    if tls.rule and tls.mode != wanted:
        causes.append(f"DestinationRule {rule_ref(tls.rule)} sets tls mode {tls.mode}; make it {wanted}.")
    if not causes:
        causes.append(f"no DestinationRule for {service.fqdn} visible from {client_namespace} sets tls mode {wanted}.")
    return join(causes)


def failed_call(view: MeshView, client_namespace: str, client_sidecar: bool, namespace: str, service_name: str,
                port: int, outcome) -> str:
    """Why a request did not get the expected answer: the server's mode, the client's TLS, the app's TLS."""
    service, sp, problem = _target(view, namespace, service_name, port)
    if problem:
        return problem
    if not client_sidecar:
        if outcome.reset:
            return strict_applies(view, namespace, service_name, port)
        return ""
    tls = view.client_tls(client_namespace, service, sp.port)
    pods = view.endpoints(service)
    strict = [p for p in pods if view.has_sidecar(namespace, p.name)
              and view.effective(p).for_port(sp.target_port) == STRICT]
    bare = [p for p in pods if not view.has_sidecar(namespace, p.name)]
    if tls.mode == DISABLE and strict:
        return (f"DestinationRule {rule_ref(tls.rule)} sets tls mode DISABLE: the client's sidecar sends plaintext, and the STRICT "
                f"server resets it, which the client sees as 503. Delete the rule (or use ISTIO_MUTUAL).")
    if tls.mode == "ISTIO_MUTUAL" and bare:
        return (f"DestinationRule {rule_ref(tls.rule)} forces ISTIO_MUTUAL, but {bare[0].name} has no sidecar to answer mTLS "
                f"(503).")
    if tls.mode in ("SIMPLE", "MUTUAL"):
        if credential_ignored_at_sidecar(tls, view.client_pod(client_namespace)):
            return (f"DestinationRule {rule_ref(tls.rule)} has credentialName but no workloadSelector: at a sidecar Istio "
                    f"then ignores its TLS settings and sends plaintext (a Go TLS server answers 400). Add "
                    f"workloadSelector: {{matchLabels: {{app: curl}}}} and keep the Secret in {client_namespace}.")
        secret = join(missing_secrets(view, namespace, p.deployment or "") for p in pods)
        source = ("the Secret named by credentialName (in the client's namespace) must hold the CA that signed its "
                  "certificate (ca.crt); lab.logs('istio-system', 'istiod') says what istiod could not serve"
                  if (tls.settings or {}).get("credentialName") else
                  "caCertificates must name the CA that signed its certificate, as a file inside the client's "
                  "istio-proxy container (mounted with the sidecar.istio.io/userVolume and userVolumeMount "
                  "annotations; its log says 'failed to generate secret' when the file is not there); without "
                  "caCertificates only the proxy's system roots are trusted")
        return secret or (f"DestinationRule {rule_ref(tls.rule)} originates TLS ({tls.mode}): the server app must serve TLS on "
                          f"port {sp.target_port} (its own configuration, e.g. go-httpbin's -https-cert-file/-https-key-file), "
                          f"and {source}.")
    if outcome.status == "403":
        return join(["an AuthorizationPolicy denies this caller (body: RBAC: access denied)."]
                    + principal_typos(view, namespace))
    return (f"lab.logs('{client_namespace}', '<client pod>', 'istio-proxy') shows the client sidecar's access log "
            f"(response flags such as UF, URX say why).")


__all__ = ["injection", "missing_sidecar", "unexpected_sidecar", "missing_deployment", "missing_secrets",
           "not_strict", "strict_applies", "port_key", "destination_rule", "failed_call", "misplaced_strict"]
