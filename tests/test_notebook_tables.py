"""Issue 21 item 4 (the part without a browser): in a kernel, tables render whole values in a wrapper whose
cells may wrap anywhere; tests/test_browser.py measures that they then fit the pane."""
from __future__ import annotations

import pandas as pd
import pytest

from labkit.notebook_tables import FIT_CLASS, install
from labkit.tools.render import frame_html

SPIFFE = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"


@pytest.fixture
def shell():
    """The session's IPython shell, rendering HTML as a Jupyter kernel does (IPython's test shell, which
    another test may have made the singleton, renders plain text only)."""
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    display, formatter = shell.display_formatter, shell.display_formatter.formatters["text/html"]
    saved = display.active_types, formatter.enabled
    display.active_types, formatter.enabled = [*display.active_types, "text/html"], True
    with pd.option_context("display.max_colwidth", 50):
        install(shell)
        yield shell
    display.active_types, formatter.enabled = saved
    formatter.pop(pd.DataFrame, None)
    from pandas.io.formats.style import Styler
    formatter.pop(Styler, None)


def test_frames_and_stylers_render_whole_values_that_may_wrap(shell):
    frame = pd.DataFrame([{"source": "secret", "spiffe_id": SPIFFE}])
    data, _ = shell.display_formatter.format(frame)
    assert SPIFFE in data["text/html"] and f"class='{FIT_CLASS}'" in data["text/html"]
    assert "overflow-wrap: anywhere" in data["text/html"]
    data, _ = shell.display_formatter.format(frame.style.hide(axis="index"))
    assert SPIFFE in data["text/html"] and f"class='{FIT_CLASS}'" in data["text/html"]


def test_the_tools_tables_wrap_too():
    assert f"class='{FIT_CLASS}'" in frame_html(pd.DataFrame([{"cluster": "outbound|80||customers.backend"}]))


def test_graphs_render_inline_and_may_shrink_to_the_pane():
    from labkit.tools.graph import build_graph
    graph = build_graph([], {})
    html = graph._repr_html_()
    assert html.count("<svg") == 1 and "max-width: 100%" in html and "viewBox=" in html
