"""Names fixed by Istio's defaults, defined once (no labkit imports: every layer may use these)."""

# The trust domain of the SPIFFE identities istiod's CA signs (meshConfig.trustDomain).
TRUST_DOMAIN = "cluster.local"
# istiod's namespace: the root namespace for mesh-wide policy (meshConfig.rootNamespace).
ROOT_NAMESPACE = "istio-system"
# The default ingress gateway install (istioctl's default profile).
GATEWAY_NAMESPACE = "istio-system"
GATEWAY_DEPLOYMENT = "istio-ingressgateway"
GATEWAY_SERVICE_ACCOUNT = "istio-ingressgateway-service-account"
GATEWAY_PRINCIPAL = f"{TRUST_DOMAIN}/ns/{GATEWAY_NAMESPACE}/sa/{GATEWAY_SERVICE_ACCOUNT}"
# The sidecar/gateway container the injector adds to a pod.
PROXY_CONTAINER = "istio-proxy"
