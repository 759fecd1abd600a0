# weak: every CIS Docker 1.6.0 control that facts can decide fails. Daemon options are
# dockerd command-line flags, in both spellings (--flag=value and --flag value).
# Several modes are chosen so that a decimal comparison of `stat -c %a` gets them wrong
# (0606 "<= 644", 0707 "<= 755", 0606 "<= 660").

# Audit rules: the Docker rules are commented out; the only live rule watches
# containerd-shim-runc-v2, which a substring match mistakes for containerd and
# containerd-shim.
write_audit_rules <<'RULES'
## Docker rules, disabled while debugging
# -w /usr/sbin/dockerd -p rwxa -k docker
# -w /var/lib/docker -p rwxa -k docker
# -w /etc/docker -p rwxa -k docker
# -w /etc/docker/daemon.json -p rwxa -k docker
# -w /usr/bin/runc -p rwxa -k docker
-w /usr/bin/containerd-shim-runc-v2 -p rwxa -k docker
RULES

# A user in the docker group (1.1.2 is manual; this gives it something to show).
useradd --no-create-home --shell /usr/sbin/nologin deploy
usermod -aG docker deploy

# Files and modes (section 3): wrong owners and too-open modes.
make_tls /etc/docker/tls
set_file /etc/docker/tls/ca.pem 1000:1000 0606
set_file /etc/docker/tls/server-cert.pem audit:audit 0644
set_file /etc/docker/tls/server-key.pem nosudo:nosudo 0644
mkdir -p /etc/docker/certs.d/registry.lab:5000
cp /etc/docker/tls/ca.pem /etc/docker/certs.d/registry.lab:5000/ca.crt
set_file /etc/docker/certs.d/registry.lab:5000/ca.crt audit:root 0644
set_file /lib/systemd/system/docker.service audit:audit 0606
set_file /lib/systemd/system/docker.socket root:audit 0664
set_file /etc/default/docker root:audit 0666
set_file /etc/sysconfig/docker audit:audit 0606 '# options for the docker daemon (none)'
# daemon.json exists, but holds no option under test (those are flags here).
set_file /etc/docker/daemon.json audit:audit 0606 '{"max-concurrent-downloads": 3}'
chown audit:root /etc/docker
chmod 0707 /etc/docker

# On an ordinary host the root file system is a shared mount, and dockerd then bind-mounts
# its data root onto itself to make it private: the data root becomes a mount point of the
# root file system's own device. This lab's root is not shared, so that bind mount is made
# here, as dockerd makes it: 1.1.1 must still FAIL (a mount point, but no file system of
# its own).
mkdir -p /srv/docker
mount --bind /srv/docker /srv/docker && mount --make-private /srv/docker
start_containerd
start_dockerd -H unix:///var/run/docker.sock -H tcp://127.0.0.1:2376 \
    --tls --tlsverify=false --tlscacert /etc/docker/tls/ca.pem \
    --tlscert=/etc/docker/tls/server-cert.pem \
    --tlskey /etc/docker/tls/server-key.pem \
    --containerd /run/containerd/containerd.sock \
    --data-root /srv/docker --storage-driver vfs \
    --icc=true --log-level debug --iptables=false \
    --insecure-registry 10.0.0.0/24 --insecure-registry=registry.lab:5000 \
    --cgroup-parent=/lab-weak --experimental --userland-proxy=true
chown root:root /var/run/docker.sock
chmod 0606 /var/run/docker.sock
chown audit:root /run/containerd/containerd.sock
chmod 0666 /run/containerd/containerd.sock

# Images (section 4): root by default, no HEALTHCHECK, ADD, and a package-index update
# alone in a RUN (echoed: there is no network; the history records the command).
import_base lab/base:import
ctx=$(new_context)
build_image lab/legacy:latest "$ctx" <<'DOCKERFILE'
FROM lab/base:import
ADD index.html /www/index.html
ADD serve.sh /usr/local/bin/serve.sh
RUN echo 'apt-get update'
RUN echo 'apt-get install -y curl'
CMD ["/usr/local/bin/serve.sh"]
DOCKERFILE

# Containers (section 5), each with a set of failings (see tests/lab/PROFILES.md).
mkdir -p /srv/shared
mount --bind /srv/shared /srv/shared
mount --make-shared /srv/shared
docker run -d --name w-hostns --net host --pid host --ipc host --uts host --userns host \
    lab/base:import sleep 1000000 > /dev/null
docker run -d --name w-caps --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --device /dev/zero:/dev/lab-zero \
    --ulimit nofile=512:1024 --restart on-failure:10 lab/base:import sleep 1000000 > /dev/null
docker run -d --name w-mounts -v /etc:/host/etc -v /var/run/docker.sock:/var/run/docker.sock \
    -v /srv/shared:/shared:rshared lab/base:import sleep 1000000 > /dev/null
docker run -d --name w-web -p 0.0.0.0:80:8080 -p 2222:22 --restart always \
    lab/legacy:latest > /dev/null
build_sshd_decoy lab/sshd:latest lab/base:import
docker run -d --name w-sshd lab/sshd:latest > /dev/null
docker run -d --name w-cgroup --cgroup-parent /lab-custom lab/base:import sleep 1000000 > /dev/null
# Privileged containers cannot run on this machine: created, never started.
docker create --name w-privileged --privileged lab/base:import sleep 1000000 > /dev/null
