"""HTML pieces for notebook display: tables, and JSON that stays folded until clicked."""
from __future__ import annotations

import html
import json


def frame_html(frame, empty: str = "(none)") -> str:
    if frame is None or len(frame) == 0:
        return f"<p><i>{html.escape(empty)}</i></p>"
    from ..notebook_tables import fit  # long ids wrap: the table keeps to the notebook pane's width
    return fit(frame.to_html(index=False, escape=True, na_rep=""))


def folded_json(title: str, obj) -> str:
    """A <details> block: Jupyter renders it collapsed, so a long config costs one line until opened."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=str)
    return (f"<details><summary><code>{html.escape(title)}</code></summary>"
            f"<pre style='max-height:30em;overflow:auto'>{html.escape(text)}</pre></details>")


def heading(text: str) -> str:
    return f"<h4 style='margin:0.5em 0 0.2em'>{html.escape(text)}</h4>"
