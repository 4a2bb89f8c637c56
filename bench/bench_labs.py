"""Lab notebooks: nbval wall time of each labs/*.ipynb, run exactly as `make test` runs them
(each notebook in its own pytest, so a slow one is visible by itself). Labs that do not exist yet
are simply not measured.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import save

ROOT = Path(__file__).resolve().parent.parent


def run(notebook: Path) -> dict:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", str(notebook.relative_to(ROOT)), "--nbval-lax",
                          "--nbval-current-env", "-p", "no:cacheprovider", "-q"], cwd=ROOT, capture_output=True,
                         text=True, timeout=1800)
    last = (out.stdout.strip().splitlines() or [""])[-1]
    return {"notebook": notebook.name, "seconds": time.perf_counter() - start, "passed": out.returncode == 0,
            "summary": last}


def main() -> None:
    notebooks = sorted((ROOT / "labs").glob("*.ipynb"))
    rows = [run(nb) for nb in notebooks]
    path = save("labs", {"notebooks": rows, "total_s": sum(r["seconds"] for r in rows)})
    print(f"nbval wall time of {len(rows)} lab notebooks (pytest start-up included):")
    for r in rows:
        print(f"   {r['notebook']:40} {r['seconds']:6.1f} s  {'ok' if r['passed'] else 'FAILED: ' + r['summary']}")
    print(f"   {'total':40} {sum(r['seconds'] for r in rows):6.1f} s")
    print(f"written {path}")


if __name__ == "__main__":
    main()
