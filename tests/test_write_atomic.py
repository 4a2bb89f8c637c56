"""Concurrent writers of one file (the owner's threads publishing status) never collide on a temp file."""
from __future__ import annotations

import json
import threading

from labkit.atomic import write_atomic


def test_parallel_writes_of_one_file_all_succeed(tmp_path):
    target = tmp_path / "status.json"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                write_atomic(target, json.dumps({"writer": n, "i": i}))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert json.loads(target.read_text())["i"] == 199
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp files left behind


def test_private_files_are_0600(tmp_path):
    write_atomic(tmp_path / "key.json", "{}", mode=0o600)
    assert (tmp_path / "key.json").stat().st_mode & 0o777 == 0o600
