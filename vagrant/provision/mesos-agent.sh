#!/usr/bin/env bash
# Every node: a Mesos agent with the Docker containerizer, so Marathon runs each app process as a
# Docker container on the node's own dockerd (ports published on the node's address).
set -euo pipefail

: "${NODE_IP:?NODE_IP is set by the Vagrantfile}"
: "${MASTER_IP:?MASTER_IP is set by the Vagrantfile}"
: "${MESOS_VERSION:?MESOS_VERSION is set by the Vagrantfile}"

image="mesosphere/mesos-slave:${MESOS_VERSION}"
docker pull -q "$image" >/dev/null
docker rm -f mesos-agent >/dev/null 2>&1 || true
mkdir -p /var/lib/mesos-agent
# posix isolation and launcher: Debian 12 boots with cgroup v2, which Mesos' cgroups isolators predate;
# the Docker containerizer leaves resource limits to dockerd anyway.
docker run -d --name mesos-agent --restart unless-stopped --net host --pid host --privileged \
  -v /var/run/docker.sock:/var/run/docker.sock \
  -v /usr/bin/docker:/usr/local/bin/docker:ro \
  -v /var/lib/mesos-agent:/var/lib/mesos-agent \
  -v /sys/fs/cgroup:/sys/fs/cgroup \
  -e MESOS_MASTER="zk://${MASTER_IP}:2181/mesos" \
  -e MESOS_IP="$NODE_IP" \
  -e MESOS_HOSTNAME="$NODE_IP" \
  -e MESOS_PORT=5051 \
  -e MESOS_WORK_DIR=/var/lib/mesos-agent \
  -e MESOS_CONTAINERIZERS=docker \
  -e MESOS_DOCKER=/usr/local/bin/docker \
  -e MESOS_DOCKER_MESOS_IMAGE="$image" \
  -e MESOS_ISOLATION=posix/cpu,posix/mem \
  -e MESOS_LAUNCHER=posix \
  -e MESOS_SYSTEMD_ENABLE_SUPPORT=false \
  -e MESOS_EXECUTOR_REGISTRATION_TIMEOUT=10mins \
  -e MESOS_RESOURCES="ports:[31000-32000]" \
  "$image" >/dev/null

for _ in $(seq 1 120); do
  curl -fsS "http://${NODE_IP}:5051/health" >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "the Mesos agent does not answer on ${NODE_IP}:5051" >&2
exit 1
