"""A trust anchor nothing chains to, for a credentialName whose CA istiod would not serve.

(DestinationRule files — caCertificates and friends — are SDS resources now, `file-root:`/`file-cert:`,
left unsent when the file is not in istio-proxy, as istio-agent does: envoy/sidecar.py.) Here the
translator puts this CA in instead of the missing one: the handshake fails verification (503) and the
rest of the proxy keeps taking updates. Its private key was thrown away when it was made.
"""

UNVERIFIABLE_CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBwTCCAWegAwIBAgIUW4y572eVwtvag8JK4/X7mMjoAZQwCgYIKoZIzj0EAwIw
LTErMCkGA1UEAwwibGFia2l0IG1pc3NpbmctZmlsZSBwbGFjZWhvbGRlciBDQTAg
Fw0yNjExMjYwNjIxMDhaGA8yMTI2MTEwMjA2MjYwOFowLTErMCkGA1UEAwwibGFi
a2l0IG1pc3NpbmctZmlsZSBwbGFjZWhvbGRlciBDQTBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABMqW3G9V4wrpTx6h5J1jYXP3VttluTlTmEh34pLaO21Ut6F2ttWn
iX20gWe1oy2Y9ReF5ihvWVN8dEBXL6VJw1qjYzBhMA8GA1UdEwEB/wQFMAMBAf8w
HQYDVR0OBBYEFG8rPLkzKCyvQetsq+MUTYb9MPf8MB8GA1UdIwQYMBaAFG8rPLkz
KCyvQetsq+MUTYb9MPf8MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAgNIADBF
AiB4frdPNiBdwYsQghx3XFc8k4l7WpGdMtmtxiqjsLd+agIhALhLuBB2bz36OaU2
4YM0fNQSHDCPCqU830NxfzbaFKZW
-----END CERTIFICATE-----

"""
