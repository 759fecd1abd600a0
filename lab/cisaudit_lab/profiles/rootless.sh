# rootless: the engine runs rootless (dockerd-rootless.sh under rootlesskit, as the
# ordinary user `dockrl`), so CIS 2.1 passes. No root engine runs on this host, and
# /var/run/docker.sock does not exist. The engine's socket is
# /run/user/<uid of dockrl>/docker.sock; SSH sessions get it as DOCKER_HOST (sshd SetEnv;
# `sudo` drops it), and it is in /etc/environment. `docker info` lists name=rootless.
# lab-run: --device /dev/net/tun
rm -f /etc/docker/daemon.json
chmod 0666 /dev/net/tun   # slirp4netns opens it as dockrl (the node is this container's own)
useradd --create-home --shell /bin/bash dockrl
uid=$(id -u dockrl)
mkdir -p "/run/user/$uid"
chown dockrl:dockrl "/run/user/$uid"
chmod 0700 "/run/user/$uid"
su dockrl -c "cd && XDG_RUNTIME_DIR=/run/user/$uid PATH=/usr/share/docker.io/contrib:/usr/sbin:/sbin:\$PATH \
    nohup dockerd-rootless.sh > /tmp/dockerd-rootless.log 2>&1 &"
export DOCKER_HOST="unix:///run/user/$uid/docker.sock"
if ! wait_for 60 "$(pgrep -n -u dockrl rootlesskit || echo 1)" docker version; then
    tail -30 /tmp/dockerd-rootless.log
    exit 1
fi
echo "DOCKER_HOST=$DOCKER_HOST" >> /etc/environment
echo "SetEnv DOCKER_HOST=$DOCKER_HOST" > /etc/ssh/sshd_config.d/rootless.conf
kill -HUP "$(cat /run/sshd.pid)"
import_base lab/base:import
docker run -d --name r-app --read-only lab/base:import sleep 1000000 > /dev/null
