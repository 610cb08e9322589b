#!/usr/bin/env bash
# node1: Marathon, registered with the Mesos master through ZooKeeper; app-layer's controller uses it
# as its scheduler (APP_LAYER_SCHEDULER=marathon, MARATHON_URL).
set -euo pipefail

: "${NODE_IP:?NODE_IP is set by the Vagrantfile}"
: "${MASTER_IP:?MASTER_IP is set by the Vagrantfile}"
: "${MARATHON_VERSION:?MARATHON_VERSION is set by the Vagrantfile}"

image="mesosphere/marathon:${MARATHON_VERSION}"
docker pull -q "$image" >/dev/null
docker rm -f marathon >/dev/null 2>&1 || true
docker run -d --name marathon --restart unless-stopped --net host \
  -e JAVA_OPTS=-Xmx512m \
  "$image" \
  --master "zk://${MASTER_IP}:2181/mesos" \
  --zk "zk://${MASTER_IP}:2181/marathon" \
  --hostname "$NODE_IP" \
  --http_address "$NODE_IP" \
  --http_port 8080 \
  --task_launch_timeout 600000 >/dev/null

for _ in $(seq 1 180); do
  curl -fsS "http://${NODE_IP}:8080/ping" >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "Marathon does not answer on ${NODE_IP}:8080" >&2
exit 1
