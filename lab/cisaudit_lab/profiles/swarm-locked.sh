# swarm-locked: a single-node swarm manager set up as CIS asks: swarm listener on
# 127.0.0.1 only, auto-lock on, encrypted overlay networks (the default ingress network is
# replaced by an encrypted one), a secret, 2-day node certificates.
rm -f /etc/docker/daemon.json
start_dockerd
docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 --autolock \
    --cert-expiry 48h > /dev/null
echo y | docker network rm ingress > /dev/null
wait_for 20 "$(cat /var/run/docker.pid)" sh -c '! docker network inspect ingress'
docker network create --driver overlay --ingress --opt encrypted lab-ingress > /dev/null
docker network create --driver overlay --opt encrypted lab-overlay > /dev/null
printf 'not a real password' | docker secret create lab-db-password - > /dev/null
