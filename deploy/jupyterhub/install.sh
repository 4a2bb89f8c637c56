#!/bin/sh
# One VM for a class, with plain JupyterHub (for The Littlest JupyterHub use the plugin instead, see
# docs/workshops.md). As root on Debian/Ubuntu, from a clone of the repository in /opt/istio-labs:
#   sh deploy/jupyterhub/install.sh instructor1 [instructor2 ...]
# Learners: local users (`adduser alice`); list them in LABKIT_LEARNERS in /etc/default/labkit-hub.
set -eu
SRC=/opt/istio-labs
apt-get update -qq
apt-get install -y -qq python3-venv curl openssl nodejs npm
npm install -g configurable-http-proxy
python3 -m venv "$SRC/venv"
"$SRC/venv/bin/pip" install -q jupyterhub "$SRC"
"$SRC/venv/bin/labkit" release --source "$SRC/labs" --out "$SRC/learner-labs"
chmod -R a+rX "$SRC"
sh "$SRC/deploy/class-folder.sh" /srv/labkit-class "$@"
install -d -m 700 /srv/jupyterhub
cat > /etc/systemd/system/labkit-hub.service <<UNIT
[Unit]
Description=JupyterHub for the istio-labs class
After=network.target
[Service]
EnvironmentFile=-/etc/default/labkit-hub
Environment=LABKIT_VENV=$SRC/venv LABKIT_LABS_SOURCE=$SRC/learner-labs
ExecStart=$SRC/venv/bin/jupyterhub -f $SRC/deploy/jupyterhub/jupyterhub_config.py
WorkingDirectory=/srv/jupyterhub
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now labkit-hub
echo "JupyterHub on :8000; add learners with adduser and LABKIT_LEARNERS=alice,bob in /etc/default/labkit-hub"
