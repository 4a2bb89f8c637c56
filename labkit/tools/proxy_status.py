"""`istioctl proxy-status`: per proxy, whether it runs what the control plane last sent it.

Shaped like current istioctl (istioctl/pkg/writer/pilot/status.go, Istio 1.27+): by default NAME,
CLUSTER, ISTIOD, VERSION, SUBSCRIBED TYPES ("4 (CDS,LDS,EDS,RDS)"); with verbose, one column per xDS type
(every type seen plus the core ones, sorted by type URL) holding SYNCED / STALE / ERROR with the age of
the last push, NOT SENT, or IGNORED for a type the proxy does not subscribe to.
"""
from __future__ import annotations

import time

import pandas as pd

from ..xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, SHORT_NAMES
from ..durations import human_duration

EXTENSION_CONFIG = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
SHORT = {**SHORT_NAMES, EXTENSION_CONFIG: "ECDS"}
CORE_ORDER = (CLUSTER, LISTENER, ENDPOINT, ROUTE)           # setupStatusPrint's legacy order
KNOWN_TYPES = (CLUSTER, LISTENER, ENDPOINT, ROUTE, EXTENSION_CONFIG)  # getAllKnownXdsTypes
IGNORED = "IGNORED"


def _status_text(entry: dict, now: float) -> str:
    """formatStatus: NOT SENT bare, the others with the age of the last send."""
    status = entry["status"]
    if status in ("UNKNOWN", IGNORED):
        return IGNORED
    if status == "NOT SENT" or entry.get("last_updated") is None:
        return status
    return f"{status} ({human_duration(now - entry['last_updated'])})"


def _types_in_order(rows: list[dict], verbose: bool) -> list[str]:
    seen = {t for row in rows for t in row["types"]}
    if verbose:
        return sorted(seen | set(KNOWN_TYPES))
    return [t for t in CORE_ORDER if t in seen] + sorted(seen - set(CORE_ORDER))


def proxy_status_frame(rows: list[dict], verbose: bool = False, namespace: str | None = None,
                       now: float | None = None) -> pd.DataFrame:
    """rows: labkit.xds.client.fetch_syncz's. One line per proxy, sorted by name, as istioctl prints."""
    now = time.time() if now is None else now
    rows = sorted((r for r in rows if namespace is None or r.get("namespace") == namespace),
                  key=lambda r: r["name"])
    types = _types_in_order(rows, verbose)
    records = []
    for row in rows:
        texts = {t: _status_text(row["types"][t], now) for t in row["types"]}
        if verbose:
            record = {"NAME": row["name"], "CLUSTER": row["cluster"]}
            record.update({SHORT.get(t, t): texts.get(t, IGNORED) for t in types})
            record.update({"ISTIOD": row["istiod"], "VERSION": row["version"]})
        else:
            subscribed = [SHORT.get(t, t) for t in types if t in texts and texts[t] != IGNORED]
            record = {"NAME": row["name"], "CLUSTER": row["cluster"], "ISTIOD": row["istiod"],
                      "VERSION": row["version"],
                      "SUBSCRIBED TYPES": f"{len(subscribed)} ({','.join(subscribed)})" if subscribed else "0"}
        records.append(record)
    columns = (["NAME", "CLUSTER", *[SHORT.get(t, t) for t in types], "ISTIOD", "VERSION"] if verbose
               else ["NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES"])
    frame = pd.DataFrame.from_records(records, columns=columns)
    # The errors behind ERROR cells, for a reader who wants Envoy's words (istioctl -o json shows them).
    frame.attrs["errors"] = {row["name"]: {SHORT.get(t, t): e["error"] for t, e in row["types"].items() if e["error"]}
                             for row in rows if any(e["error"] for e in row["types"].values())}
    return frame


def render_table(frame: pd.DataFrame) -> str:
    """Go's tabwriter as istioctl sets it up (minwidth 0, padding 5, spaces): every column but the last
    padded to its widest cell plus 5."""
    header = list(frame.columns)
    lines = [header] + [[str(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(line[i]) for line in lines) + 5 for i in range(len(header))]
    out = []
    for line in lines:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])] + [line[-1]]
        out.append("".join(cells))
    return "\n".join(out) + "\n"
