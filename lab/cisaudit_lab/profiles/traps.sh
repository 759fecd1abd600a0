# traps: a well-kept host whose facts trip naive checks. Section 2 options that pass are
# dockerd flags in the space-separated spelling (`--flag value`), which a parser that only
# knows `--flag=value` misses; one that fails is in daemon.json. Most of what is compliant
# here is stricter than CIS asks, and most of what fails is easy to miss.
. "$LAB_DIR/_rules.sh"

# Audit rules as syscall rules (-a always,exit -F path=/dir=) instead of watches.
printf '%s\n' "$DOCKER_SYSCALL_RULES" | write_audit_rules

# Files: stricter than CIS (passes), except the TLS key at 0600 where CIS wants exactly 0400.
make_tls /etc/docker/tls
chown root:root /etc/docker /etc/docker/tls/*
chmod 0750 /etc/docker
chmod 0400 /etc/docker/tls/ca.pem
chmod 0440 /etc/docker/tls/server-cert.pem
chmod 0600 /etc/docker/tls/server-key.pem
set_file /lib/systemd/system/docker.service root:root 0600
set_file /lib/systemd/system/docker.socket root:root 0640
set_file /etc/default/docker root:root 0600
write_seccomp_profile /etc/docker/seccomp/lab-default.json
set_file /etc/docker/daemon.json root:root 0600 '{"insecure-registries": ["10.1.2.3:5000"]}'

busybox syslogd
start_containerd
start_authz_plugin
# --tls with no --tlsverify: dockerd 20.10 and later then verify client certificates by
# default (2.7 passes), which a check reading only the flags written would miss.
start_dockerd -H unix:///var/run/docker.sock -H tcp://127.0.0.1:2376 \
    --tls --tlscacert /etc/docker/tls/ca.pem --tlscert /etc/docker/tls/server-cert.pem \
    --tlskey /etc/docker/tls/server-key.pem --containerd /run/containerd/containerd.sock \
    --icc=false --log-level info --userland-proxy=false --no-new-privileges --live-restore \
    --default-ulimit nofile=1024:2048 --log-driver syslog --authorization-plugin lab-authz \
    --seccomp-profile /etc/docker/seccomp/lab-default.json
chown root:docker /var/run/docker.sock
chmod 0600 /var/run/docker.sock

# Images: compliant, though their history says "update" (in a combined RUN, and in
# update-ca-certificates), and the imported base is ADDed nowhere.
import_base lab/base:import
ctx=$(new_context)
build_image lab/api:2.1 "$ctx" <<'DOCKERFILE'
FROM lab/base:import
COPY serve.sh /usr/local/bin/serve.sh
COPY index.html /www/index.html
RUN echo 'apt-get update && apt-get install -y --no-install-recommends ca-certificates && update-ca-certificates' > /etc/build-note
USER 1000
HEALTHCHECK --interval=30s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1
CMD ["/usr/local/bin/serve.sh"]
DOCKERFILE
docker rmi lab/base:import > /dev/null

# Containers: restrictions set per container, except no-new-privileges, which comes from
# the daemon default (SecurityOpt stays empty).
docker network create lab-net > /dev/null
limits='--read-only --memory 64m --cpu-shares 512 --pids-limit 64 --cap-drop ALL
        --network lab-net'
# A name containing "nil" (a grep -v nil placeholder skips it) and the boundary retry count.
# shellcheck disable=SC2086
docker run -d --name vanilla-api $limits --restart on-failure:5 -p 127.0.0.1:8081:8080 \
    lab/api:2.1 > /dev/null
# Shares the host PID namespace (5.16 fails) while no container runs sshd: a check that
# runs `ps` inside containers sees the host's sshd here.
# shellcheck disable=SC2086
docker run -d --name t-pidhost $limits --pid host --restart on-failure:3 \
    --health-cmd true --health-interval 30s lab/api:2.1 sleep 1000000 > /dev/null
# Root spelled numerically: User "0:0" is root too.
# shellcheck disable=SC2086
docker run -d --name t-root $limits --user 0:0 --restart on-failure:3 \
    --health-cmd true --health-interval 30s lab/api:2.1 sleep 1000000 > /dev/null
# Stopped, never started: mounts the host root. `docker ps` does not show it; `ps -a` does.
# shellcheck disable=SC2086
docker create --name t-stopped $limits -v /:/host:ro lab/api:2.1 sleep 1000000 > /dev/null
