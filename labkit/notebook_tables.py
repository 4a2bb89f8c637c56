"""Tables fit the notebook pane: long values wrap, whole, instead of pushing columns off-screen.

The tables the labs show are full of long unbreakable words (SPIFFE ids, FQDNs, Envoy cluster names like
`outbound|80||customers.backend.svc.cluster.local`). Browsers do not break those, so a table grew to 1600 px
in a 970 px pane and the TLS column the text pointed to was off-screen; pandas also cut long values
(".../sa/isti..."). In a Jupyter kernel (installed on `import labkit`), DataFrames and Stylers render whole
values inside a wrapper whose cells may break anywhere, so the table takes the pane's width.
"""
from __future__ import annotations

FIT_CLASS = "labkit-fit"
FIT_STYLE = (f"<style>.{FIT_CLASS} table {{max-width: 100%;}} "
             f".{FIT_CLASS} td, .{FIT_CLASS} th {{overflow-wrap: anywhere; min-width: 2.5em;}}</style>")


def fit(table_html: str) -> str:
    """A table's HTML, made to wrap its cells to the width it is shown in."""
    return f"<div class='{FIT_CLASS}'>{FIT_STYLE}{table_html}</div>"


def frame_html(frame) -> str | None:
    html = frame._repr_html_()  # pandas' notebook rendering (max rows etc.); None when turned off
    return fit(html) if html else None


def styler_html(styler) -> str:
    return fit(styler.to_html())


def install(shell) -> None:
    """Render DataFrames and Stylers in this shell so that they fit the pane, values whole."""
    import pandas as pd
    from pandas.io.formats.style import Styler
    pd.set_option("display.max_colwidth", None)  # a SPIFFE id cut to ".../sa/isti..." says nothing
    html = shell.display_formatter.formatters["text/html"]
    html.for_type(pd.DataFrame, frame_html)
    html.for_type(Styler, styler_html)
