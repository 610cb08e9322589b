#!/usr/bin/env bash
# Every node: Docker Engine (Debian docker.io) trusting the platform's registry on node1, and the
# tools the other provisioning steps use. Idempotent: `vagrant provision` runs it again safely.
set -euo pipefail

: "${NODE_IP:?NODE_IP is set by the Vagrantfile}"
: "${MASTER_IP:?MASTER_IP is set by the Vagrantfile}"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker.io ca-certificates curl jq git >/dev/null

# The registry `app-layer up` runs on node1 speaks plain HTTP on the private network.
mkdir -p /etc/docker
wanted=$(jq -n --arg reg "${MASTER_IP}:5000" '{"insecure-registries": [$reg], "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "3"}}')
if [ ! -f /etc/docker/daemon.json ] || [ "$(jq -S . /etc/docker/daemon.json)" != "$(jq -S . <<<"$wanted")" ]; then
  printf '%s\n' "$wanted" > /etc/docker/daemon.json
  systemctl restart docker
fi
systemctl enable --now docker

for _ in $(seq 1 60); do
  docker version >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "docker did not start on ${NODE_IP}" >&2
exit 1
