"""Running a validator in a test: it must pass on a right state and fail, with hints, on a wrong one."""
from __future__ import annotations

from labkit.checks.result import CheckResult, settling


def fails(check, *args, **kwargs) -> CheckResult:
    """Run a check that must fail: judged on its first observation (no settling), so failures are fast."""
    with settling(0):
        result = check(*args, **kwargs)
    assert not result.passed, result.report()
    return result


def hints(check, *args, **kwargs) -> str:
    return " ".join(item.hint for item in fails(check, *args, **kwargs).failures)


def passes(check, *args, **kwargs) -> None:
    result = check(*args, **kwargs)
    assert result.passed, result.report()


def remove_all(mesh, kinds) -> None:
    """Delete every stored object of these kinds, so the next test starts from the lab's own state."""
    for kind in kinds:
        for obj in mesh.get(kind):
            mesh.delete(kind, obj["metadata"]["name"], namespace=obj["metadata"]["namespace"], ignore_missing=True)
