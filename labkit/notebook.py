"""Everything a lab notebook uses, behind the one import line every lab starts with:

    from labkit.notebook import *

`labkit` (connect), `checks` (the validators), `samples` (the sample apps' YAML), `certs` (making
certificates), `check` (run a validator with a Check button) and the tables (labkit.display.tables): `pods_table`,
`traffic_matrix`, `mtls_matrix`, `tls_configured_and_observed` (lab 06's `tls_table`), `edge_table`,
`callers_table`, `access_log`, `verification_flow`; `predict` (a prediction before an observation) and
`reveal_solution` (a learner copy's Show solution button, docs/writing-labs.md); `live_traffic` (requests
sent again and again, charted live); `open_ticket` (a troubleshooting ticket with hints on demand).
`lab.tls_status()` (configuration only) and the other istioctl-like views are methods of the lab itself.
"""
from __future__ import annotations

import labkit

from . import certs, checks, samples
from .checks import verification_flow
from .display.tables import (access_log, callers_table, edge_table, mtls_matrix, pods_table,
                             tls_configured_and_observed, tls_table, traffic_matrix)
from .live_traffic import live_traffic
from .predict import predict, prediction
from .reveal import reveal_solution
from .ticket_widget import open_ticket
from .widgets import check

__all__ = ["labkit", "certs", "checks", "samples", "check", "pods_table", "traffic_matrix", "mtls_matrix",
           "tls_configured_and_observed", "tls_table", "edge_table", "callers_table", "access_log",
           "verification_flow", "predict", "prediction", "reveal_solution", "live_traffic", "open_ticket"]
