"""The mutual TLS migration setup (istio.io tasks/security/authentication) used by several tests."""
from __future__ import annotations

from labkit.samples import sample

NAMESPACES = """
apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bar, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
"""
CLIENTS = ("foo", "bar", "legacy")
SERVERS = ("foo", "bar", "legacy")


def deploy_migration(lab, client_sample: str = "curl") -> None:
    lab.apply(NAMESPACES)
    for namespace in ("foo", "bar", "legacy"):
        lab.apply(sample("httpbin"), namespace=namespace)
        lab.apply(sample(client_sample), namespace=namespace)
    lab.wait_ready(timeout=60)


def curl_code(lab, client_ns: str, url: str, client: str = "curl") -> tuple[str, int]:
    result = lab.exec(client_ns, client, ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                                          url])
    return result.stdout.strip(), result.exit_code


def matrix(lab, servers=SERVERS, client: str = "curl") -> dict[tuple[str, str], tuple[str, int]]:
    return {(c, s): curl_code(lab, c, f"http://httpbin.{s}:8000/ip", client) for c in CLIENTS for s in servers}


def strict(namespace: str, name: str = "default", selector: dict | None = None, port_level: dict | None = None,
           mode: str = "STRICT") -> str:
    lines = ["apiVersion: security.istio.io/v1", "kind: PeerAuthentication",
             f"metadata: {{name: {name}, namespace: {namespace}}}", "spec:"]
    if selector:
        lines.append(f"  selector: {{matchLabels: {selector}}}")
    lines.append(f"  mtls: {{mode: {mode}}}")
    if port_level:
        lines.append("  portLevelMtls:")
        for port, port_mode in port_level.items():
            lines.append(f"    {port}: {{mode: {port_mode}}}")
    return "\n".join(lines) + "\n"
