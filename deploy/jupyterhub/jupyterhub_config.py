# JupyterHub for a class on one VM: learners are local users (PAM), each server spawned as that user by
# JupyterHub's LocalProcessSpawner. Start: `jupyterhub -f deploy/jupyterhub/jupyterhub_config.py` as root
# (install.sh sets it up as a systemd service). See docs/workshops.md.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_hub import configure  # noqa: E402

c = get_config()  # noqa: F821  (provided by JupyterHub)
c.JupyterHub.bind_url = os.environ.get("LABKIT_HUB_URL", "http://:8000")
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.JupyterHub.authenticator_class = "jupyterhub.auth.PAMAuthenticator"
c.Authenticator.allowed_users = set(filter(None, os.environ.get("LABKIT_LEARNERS", "").split(",")))
c.Authenticator.admin_users = set(filter(None, os.environ.get("LABKIT_INSTRUCTORS", "").split(",")))
c.JupyterHub.cookie_secret_file = os.environ.get("LABKIT_HUB_STATE", "/srv/jupyterhub") + "/cookie_secret"
c.JupyterHub.db_url = "sqlite:///" + os.environ.get("LABKIT_HUB_STATE", "/srv/jupyterhub") + "/jupyterhub.sqlite"
# The learners' Python: the venv install.sh made (labkit, JupyterLab, Envoy), readable by every user.
c.Spawner.cmd = [os.environ.get("LABKIT_VENV", "/opt/istio-labs/venv") + "/bin/jupyterhub-singleuser"]
configure(c)
