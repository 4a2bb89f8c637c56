"""JupyterHub on one VM for a class: every learner is a local user with the labs in their home, and every
notebook kernel starts that learner's own mesh (isolated from the others by labkit's host-wide claims).

Used by `jupyterhub_config.py` (a plain hub with JupyterHub's LocalProcessSpawner) and by the TLJH plugin
(`tljh_labkit.py`). It runs in the hub's Python, which need not have labkit installed: standard library only.
"""
from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

#: The learner copy of the labs (`labkit release --out ...`: solutions replaced by TODOs).
LABS_SOURCE = Path(os.environ.get("LABKIT_LABS_SOURCE", "/opt/istio-labs/learner-labs"))
#: Where learners publish progress for the instructor (deploy/class-folder.sh creates it).
CLASS_DIR = os.environ.get("LABKIT_CLASS_DIR", "/srv/labkit-class")
#: The folder each learner works in, under their home.
LABS_FOLDER = "istio-labs"


def prepare_learner(username: str, labs_source: Path | None = None) -> Path:
    """Give a learner their own copy of the labs, once: later spawns keep their work. Owned by them, 0700,
    so their notebooks and their mesh's state (labs/.labkit) are theirs alone."""
    labs_source = Path(labs_source or LABS_SOURCE)
    user = pwd.getpwnam(username)
    target = Path(user.pw_dir) / LABS_FOLDER
    if not target.exists():
        if not labs_source.is_dir():
            raise RuntimeError(f"no labs to copy at {labs_source} (run `labkit release --out {labs_source}`)")
        Path(user.pw_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(user.pw_dir, user.pw_uid, user.pw_gid)
        shutil.copytree(labs_source, target / "labs",
                        ignore=shutil.ignore_patterns(".labkit", ".ipynb_checkpoints", "__pycache__"))
        for folder, dirs, files in os.walk(target):
            for name in [folder, *(os.path.join(folder, f) for f in dirs + files)]:
                os.chown(name, user.pw_uid, user.pw_gid)
    os.chmod(target, 0o700)
    return target


def learner_environment(username: str) -> dict[str, str]:
    """What every learner's server (and so every kernel) gets."""
    return {"LABKIT_CLASS_DIR": CLASS_DIR, "LABKIT_LEARNER": username}


def pre_spawn_hook(spawner) -> None:
    username = spawner.user.name
    target = prepare_learner(username)
    spawner.environment.update(learner_environment(username))
    spawner.notebook_dir = str(target)


def configure(c) -> None:
    """Apply the class settings to a JupyterHub config object `c`."""
    c.Spawner.pre_spawn_hook = pre_spawn_hook
    c.Spawner.default_url = "/lab/tree/labs/00-welcome.ipynb"
    # A learner's mesh lives as long as their kernels; an idle server is stopped by the hub's culler if
    # configured (jupyterhub-idle-culler), which stops the kernels and so the meshes with them.
    c.Spawner.http_timeout = 60
