# bare: a Docker engine with its defaults and nothing else. No daemon.json, no
# /etc/default/docker, no audit rules for Docker, containerd managed by dockerd (so
# /run/containerd is absent), no images, no containers. Controls about absent files are
# not applicable here; controls about containers have nothing to judge.
rm -f /etc/default/docker /etc/docker/daemon.json
start_dockerd
