"""How the labs show things in a notebook: the one display package.

- `labkit.display.colours`: the colour of each outcome and the short form of a response body, used by
  every table and check report (so one outcome has one colour everywhere).
- `labkit.display.tables`: every table a lab shows (pods, traffic and mTLS matrices, the configured and
  observed TLS, gateway requests, callers of a service, a proxy's access log). Lab notebooks get them
  through `from labkit.notebook import *`; `lab.tls_status()` and the other istioctl-like views are data
  the lab itself returns.

Nothing is imported here, so the checks can use the colours without loading the tables.
"""
