#!/bin/sh
# Build the root filesystem of a lab host: Debian with sshd, sudo, auditd and Docker
# (docker.io), plus a busybox root filesystem for the containers the host will run.
# Usage: rootfs.sh DIR SUITE MIRROR
# The image tag is a hash of this file: change anything here and the image is rebuilt.
set -eu
dir=$1 suite=$2 mirror=$3

packages=openssh-server,procps,iproute2,busybox-static,auditd,sudo,openssl,docker.io,passwd,perl-base
# for a rootless dockerd run by an ordinary user
packages=$packages,rootlesskit,uidmap,slirp4netns

debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror"

# Lab users: root, `audit` with passwordless sudo, `nosudo` without. Keys arrive at start.
chroot "$dir" useradd --create-home --shell /bin/bash audit
chroot "$dir" useradd --create-home --shell /bin/bash nosudo
# No password, but not locked either: sshd refuses key logins to locked ("!") accounts.
chroot "$dir" usermod -p '*' audit
chroot "$dir" usermod -p '*' nosudo
echo 'audit ALL=(ALL) NOPASSWD: ALL' > "$dir/etc/sudoers.d/audit"
chmod 0440 "$dir/etc/sudoers.d/audit"
for home in root home/audit home/nosudo; do
    mkdir -p "$dir/$home/.ssh"
    chmod 0700 "$dir/$home/.ssh"
done
chroot "$dir" chown audit:audit /home/audit/.ssh
chroot "$dir" chown nosudo:nosudo /home/nosudo/.ssh

# sshd: keys only; host keys are made at start so that every host has its own.
rm -f "$dir"/etc/ssh/ssh_host_*
cat > "$dir/etc/ssh/sshd_config.d/lab.conf" <<'CONF'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
HostKey /etc/ssh/ssh_host_ed25519_key
UsePAM no
CONF

# The busybox root filesystem that inner images are made from.
bb=$(mktemp -d)
mkdir -p "$bb/bin" "$bb/etc" "$bb/tmp" "$bb/www" "$bb/data" "$bb/root" "$bb/usr/sbin"
cp "$dir/bin/busybox" "$bb/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$bb/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bb/etc/passwd"
echo 'app:x:1000:1000:app:/tmp:/bin/sh' >> "$bb/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$bb/etc/group"
echo 'cisaudit lab' > "$bb/www/index.html"
chmod 1777 "$bb/tmp"
mkdir -p "$dir/opt/lab"
tar -C "$bb" -cf "$dir/opt/lab/busybox-rootfs.tar" .
rm -rf "$bb"

# Kubernetes node stand-ins: no Kubernetes binary can be installed here, so one tiny
# static program (k8s-standin.c, built with this machine's gcc) is installed under each
# component's name, where kubeadm's packages and images put them. Started with flags,
# it keeps its command line and sleeps; `--version` answers like the real binary.
gcc -static -Os -s -o "$dir/usr/bin/kubelet" "$(dirname "$0")/k8s-standin.c"
for name in kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd; do
    cp "$dir/usr/bin/kubelet" "$dir/usr/local/bin/$name"
done

# Trim what an image does not need.
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
