#!/usr/bin/env bash
# node1: the Mesos master, from the project's last published image (Mesos is retired; no Debian
# package exists), on the host network, electing itself through ZooKeeper.
set -euo pipefail

: "${NODE_IP:?NODE_IP is set by the Vagrantfile}"
: "${MASTER_IP:?MASTER_IP is set by the Vagrantfile}"
: "${MESOS_VERSION:?MESOS_VERSION is set by the Vagrantfile}"

image="mesosphere/mesos-master:${MESOS_VERSION}"
docker pull -q "$image" >/dev/null
docker rm -f mesos-master >/dev/null 2>&1 || true
mkdir -p /var/lib/mesos-master
docker run -d --name mesos-master --restart unless-stopped --net host \
  -v /var/lib/mesos-master:/var/lib/mesos \
  -e MESOS_ZK="zk://${MASTER_IP}:2181/mesos" \
  -e MESOS_QUORUM=1 \
  -e MESOS_IP="$NODE_IP" \
  -e MESOS_HOSTNAME="$NODE_IP" \
  -e MESOS_PORT=5050 \
  -e MESOS_CLUSTER=app-layer \
  -e MESOS_WORK_DIR=/var/lib/mesos \
  "$image" >/dev/null

for _ in $(seq 1 120); do
  curl -fsS "http://${NODE_IP}:5050/health" >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "the Mesos master does not answer on ${NODE_IP}:5050" >&2
exit 1
