"""Verification and troubleshooting views: what a learner reaches for in a real mesh.

Each module is usable on its own, and `Lab` exposes them as methods (`lab.tls_status()`,
`lab.describe()`, `lab.proxy_config()`, `lab.certs()`, `lab.evidence()`, `lab.graph()`,
`lab.analyze()`):

- `tls_status`: per client → service port, the client TLS and server mTLS mode and whether they clash
  (predicted from the configuration, like the retired `istioctl authn tls-check`);
- `describe`: `istioctl x describe pod` for one pod;
- `proxy_config`: the real Envoy admin config of a proxy, as tables with the JSON a click away;
- `certs_view`: certificates of a proxy (from its live SDS secrets) or of a Secret;
- `evidence`: what the proxies actually logged, per call: mTLS or not, peer identities, failures;
- `graph`: the observed calls as a Kiali-like SVG picture;
- `analyze`: `istioctl analyze`-style messages, on files alone or on the live lab.
"""
