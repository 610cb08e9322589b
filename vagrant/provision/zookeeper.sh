#!/usr/bin/env bash
# node1: ZooKeeper (Debian zookeeperd), for Mesos leader election, Marathon's state and app-layer's
# routes (APP_LAYER_ROUTES=zookeeper://...). One server: this recipe shows the wiring, not HA.
set -euo pipefail

: "${MASTER_IP:?MASTER_IP is set by the Vagrantfile}"

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends zookeeperd >/dev/null
echo 1 > /etc/zookeeper/conf/myid
systemctl enable --now zookeeper

for _ in $(seq 1 60); do
  # a TCP connect: ZooKeeper 3.8 answers four-letter words only when they are whitelisted
  if timeout 2 bash -c "exec 3<>/dev/tcp/${MASTER_IP}/2181" 2>/dev/null; then
    exit 0
  fi
  sleep 1
done
echo "ZooKeeper does not answer on ${MASTER_IP}:2181" >&2
exit 1
