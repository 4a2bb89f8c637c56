"""An SVG picture as a PNG file, for docs: drawn by a headless Chromium (Debian's `chromium`, the one the
browser tests use; `LABKIT_CHROMIUM` names another). Where there is none, the error says to save SVG."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import LabkitError


def chromium() -> str | None:
    named = os.environ.get("LABKIT_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    return next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


def svg_to_png(svg: str, width: int, height: int, path: Path, timeout: float = 60) -> None:
    browser = chromium()
    if browser is None:
        raise LabkitError("no Chromium here to draw a PNG", kind="graph", field="path",
                          hint="save as .svg (any browser or `rsvg-convert` turns it into PNG), or install "
                               "Debian's chromium (scripts/install-browser.sh)")
    with tempfile.TemporaryDirectory(prefix="labkit-png-") as scratch:
        page = Path(scratch) / "graph.html"
        # A page of exactly the picture's size, so the screenshot is the picture and nothing else.
        page.write_text("<!doctype html><html><body style='margin:0;background:#fff'>" + svg + "</body></html>",
                        encoding="utf-8")
        target = Path(path).resolve()
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--user-data-dir={scratch}/profile", f"--window-size={width},{height}",
                   f"--screenshot={target}", page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise LabkitError(f"Chromium took more than {timeout:g} s to draw the PNG", kind="graph",
                              hint="save as .svg instead") from exc
        if done.returncode != 0 or not target.exists():
            raise LabkitError(f"Chromium could not draw the PNG: {done.stderr.strip()[-300:]}", kind="graph",
                              hint="save as .svg instead")
