# swarm: a single-node swarm manager with the swarm defaults: listening on all
# interfaces, no auto-lock, an unencrypted overlay network, no secrets, 90-day node
# certificates. The rest is the engine's defaults (like bare).
rm -f /etc/docker/daemon.json
start_dockerd
docker swarm init --advertise-addr 127.0.0.1 > /dev/null
docker network create --driver overlay --attachable lab-overlay > /dev/null
