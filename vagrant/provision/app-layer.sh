#!/usr/bin/env bash
# node1: the app-layer platform from the synced checkout (/opt/app-layer-src): controller (Marathon
# scheduler, ZooKeeper routes), registry, builder sshd, publisher and router, all started by
# `app-layer up` under systemd. Settings live in /etc/app-layer/env (mode 0600: it may hold secrets).
set -euo pipefail

: "${MASTER_IP:?MASTER_IP is set by the Vagrantfile}"
SRC=/opt/app-layer-src
VENV=/opt/app-layer/venv
DOMAIN="${APP_LAYER_DOMAIN:-${MASTER_IP}.nip.io}"

export DEBIAN_FRONTEND=noninteractive
# the platform's own runtime packages (the list scripts/up installs), plus a virtualenv
mapfile -t packages < <(grep -hv '^\s*#' "$SRC/scripts/packages.txt" | tr -s ' \n' '\n' | sed '/^$/d' | sort -u)
apt-get install -y -qq --no-install-recommends python3-venv "${packages[@]}" >/dev/null

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "$SRC"

install -d -m 0700 /etc/app-layer /var/lib/app-layer
umask 077
cat > /etc/app-layer/env <<ENV
APP_LAYER_DATA_DIR=/var/lib/app-layer
APP_LAYER_SCHEDULER=marathon
MARATHON_URL=http://${MASTER_IP}:8080
APP_LAYER_ROUTES=zookeeper://${MASTER_IP}:2181/app-layer/routes
APP_LAYER_REGISTRY=${MASTER_IP}:5000
APP_LAYER_DOMAIN=${DOMAIN}
APP_LAYER_API_PORT=8000
APP_LAYER_SSH_PORT=2222
ENV

cat > /etc/systemd/system/app-layer.service <<UNIT
[Unit]
Description=app-layer platform (controller, registry, builder, publisher, router)
After=network-online.target docker.service zookeeper.service
Wants=network-online.target
Requires=docker.service

[Service]
EnvironmentFile=/etc/app-layer/env
ExecStart=${VENV}/bin/app-layer up --host ${MASTER_IP}
Restart=on-failure
RestartSec=5
KillMode=mixed
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable app-layer.service
systemctl restart app-layer.service

for _ in $(seq 1 180); do
  if curl -fsS "http://${MASTER_IP}:8000/healthz" >/dev/null 2>&1; then
    echo "app-layer controller: http://${MASTER_IP}:8000  router: http://<app>.${DOMAIN}/  git: ssh://git@${MASTER_IP}:2222/<app>.git"
    exit 0
  fi
  sleep 1
done
echo "the app-layer controller does not answer on ${MASTER_IP}:8000; see: journalctl -u app-layer" >&2
exit 1
