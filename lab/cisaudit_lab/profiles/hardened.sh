# hardened: every CIS Docker 1.6.0 control that facts can decide passes. Daemon options
# come from /etc/docker/daemon.json only (dockerd runs with no flags).
. "$LAB_DIR/_rules.sh"

printf '%s\n' "$DOCKER_WATCH_RULES" | write_audit_rules

# Files and modes (section 3): root-owned, modes at or below what CIS asks.
make_tls /etc/docker/tls
chown root:root /etc/docker /etc/docker/tls/*
chmod 0755 /etc/docker
chmod 0444 /etc/docker/tls/ca.pem /etc/docker/tls/server-cert.pem
chmod 0400 /etc/docker/tls/server-key.pem
mkdir -p /etc/docker/certs.d/registry.lab:5000
cp /etc/docker/tls/ca.pem /etc/docker/certs.d/registry.lab:5000/ca.crt
set_file /etc/docker/certs.d/registry.lab:5000/ca.crt root:root 0444
set_file /lib/systemd/system/docker.service root:root 0644
set_file /lib/systemd/system/docker.socket root:root 0644
set_file /etc/default/docker root:root 0644
set_file /etc/sysconfig/docker root:root 0644 '# options for the docker daemon (none)'
echo 'DOCKER_CONTENT_TRUST=1' >> /etc/environment
write_seccomp_profile /etc/docker/seccomp/lab-default.json

cat > /etc/docker/daemon.json <<'JSON'
{
  "hosts": ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2376"],
  "tls": true,
  "tlsverify": true,
  "tlscacert": "/etc/docker/tls/ca.pem",
  "tlscert": "/etc/docker/tls/server-cert.pem",
  "tlskey": "/etc/docker/tls/server-key.pem",
  "containerd": "/run/containerd/containerd.sock",
  "icc": false,
  "log-level": "info",
  "iptables": true,
  "insecure-registries": [],
  "live-restore": true,
  "userland-proxy": false,
  "no-new-privileges": true,
  "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}},
  "log-driver": "syslog",
  "userns-remap": "default",
  "authorization-plugins": ["lab-authz"],
  "seccomp-profile": "/etc/docker/seccomp/lab-default.json",
  "experimental": false
}
JSON
set_file /etc/docker/daemon.json root:root 0644

busybox syslogd            # the syslog log driver writes to /dev/log
start_containerd --config /etc/containerd/config.toml
start_authz_plugin
start_dockerd
chown root:docker /var/run/docker.sock
chmod 0660 /var/run/docker.sock

# Images (section 4): non-root USER, HEALTHCHECK, COPY only, package update and install
# in one RUN. The imported base is untagged afterwards so only these images are listed.
import_base lab/base:import
ctx=$(new_context)
build_image lab/web:1.0 "$ctx" <<'DOCKERFILE'
FROM lab/base:import
COPY index.html /www/index.html
COPY serve.sh /usr/local/bin/serve.sh
RUN echo 'apt-get update && apt-get install -y --no-install-recommends ca-certificates' > /etc/build-note
USER 1000
HEALTHCHECK --interval=30s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1
CMD ["/usr/local/bin/serve.sh"]
DOCKERFILE
build_image lab/worker:1.0 "$ctx" <<'DOCKERFILE'
FROM lab/base:import
USER 1000
HEALTHCHECK --interval=30s CMD true
CMD ["sleep", "1000000"]
DOCKERFILE
docker rmi lab/base:import > /dev/null

# Containers (section 5): every runtime restriction set, on a user-defined network.
mkdir -p /srv/app-data && echo data > /srv/app-data/readme
docker network create lab-net > /dev/null
limits='--read-only --memory 64m --cpu-shares 512 --pids-limit 64 --cap-drop ALL
        --security-opt no-new-privileges --restart on-failure:3 --network lab-net'
# shellcheck disable=SC2086
docker run -d --name h-web $limits -p 127.0.0.1:8080:8080 -v /srv/app-data:/data:ro \
    lab/web:1.0 > /dev/null
# shellcheck disable=SC2086
docker run -d --name h-worker $limits --user 1000:1000 --health-cmd true \
    --health-interval 30s lab/worker:1.0 > /dev/null
