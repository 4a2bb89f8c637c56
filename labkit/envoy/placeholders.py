"""A trust anchor nothing chains to, for TLS settings whose CA file is missing.

Istio fails only the affected cluster when a DestinationRule names a CA file the proxy lacks. Envoy
rejects a whole CDS update over one missing `filename`, which would freeze every other change to that
proxy, so the translator puts this CA in instead: the handshake fails verification (503) and the rest
of the proxy keeps taking updates. Its private key was thrown away when it was made.
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
