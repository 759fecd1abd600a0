# Audit rule sets shared by profiles (sourced by _lib.sh users).

# Every Docker path of CIS Docker 1.6.0 section 1.1, as watches (-w). Paths are the real
# ones on this Debian host: dockerd and runc live in /usr/sbin (/usr/bin/runc is a link).
DOCKER_WATCH_RULES='-w /usr/sbin/dockerd -p rwxa -k docker
-w /run/containerd -p rwxa -k docker
-w /var/lib/docker -p rwxa -k docker
-w /etc/docker -p rwxa -k docker
-w /lib/systemd/system/docker.service -p rwxa -k docker
-w /run/containerd/containerd.sock -p rwxa -k docker
-w /lib/systemd/system/docker.socket -p rwxa -k docker
-w /run/docker.sock -p rwxa -k docker
-w /etc/default/docker -p rwxa -k docker
-w /etc/docker/daemon.json -p rwxa -k docker
-w /etc/containerd/config.toml -p rwxa -k docker
-w /etc/sysconfig/docker -p rwxa -k docker
-w /usr/bin/containerd -p rwxa -k docker
-w /usr/bin/containerd-shim -p rwxa -k docker
-w /usr/bin/containerd-shim-runc-v1 -p rwxa -k docker
-w /usr/bin/containerd-shim-runc-v2 -p rwxa -k docker
-w /usr/bin/runc -p rwxa -k docker
-w /usr/sbin/runc -p rwxa -k docker'

# The same paths as syscall rules (-a always,exit -F path=/dir=), the other spelling.
DOCKER_SYSCALL_RULES='-a always,exit -F path=/usr/sbin/dockerd -F perm=rwxa -k docker
-a always,exit -F dir=/run/containerd -F perm=war -k docker
-a always,exit -F dir=/var/lib/docker -F perm=war -k docker
-a always,exit -F dir=/etc/docker -F perm=war -k docker
-a always,exit -F path=/lib/systemd/system/docker.service -F perm=war -k docker
-a always,exit -F path=/run/containerd/containerd.sock -F perm=war -k docker
-a always,exit -F path=/lib/systemd/system/docker.socket -F perm=war -k docker
-a always,exit -F path=/run/docker.sock -F perm=war -k docker
-a always,exit -F path=/etc/default/docker -F perm=war -k docker
-a always,exit -F path=/etc/docker/daemon.json -F perm=war -k docker
-a always,exit -F path=/etc/containerd/config.toml -F perm=war -k docker
-a always,exit -F path=/etc/sysconfig/docker -F perm=war -k docker
-a always,exit -F path=/usr/bin/containerd -F perm=war -k docker
-a always,exit -F path=/usr/bin/containerd-shim -F perm=war -k docker
-a always,exit -F path=/usr/bin/containerd-shim-runc-v1 -F perm=war -k docker
-a always,exit -F path=/usr/bin/containerd-shim-runc-v2 -F perm=war -k docker
-a always,exit -F path=/usr/bin/runc -F perm=war -k docker
-a always,exit -F path=/usr/sbin/runc -F perm=war -k docker'
