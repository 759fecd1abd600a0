# cisaudit docker-host probe, phase 1. Runs under POSIX sh on the audited host, as root
# (directly or through sudo). Collects everything the catalog needs in one remote command:
# each section runs in the background into its own file, then all are printed in order
# between boundary lines that carry a per-run nonce (so host output cannot forge them).
# (sections.sh, prepended by the collector, provides sec and emit)
dpid=$(pidof dockerd 2>/dev/null | tr ' ' '\n' | sort -n | head -n 1)
[ -z "$dpid" ] && dpid=$(ps -eo pid=,comm= 2>/dev/null | awk '$2=="dockerd"{print $1; exit}')
M="$CISAUDIT_NONCE/"
# The package databases in every layer of the image store, read from the layers on disk
# (no container started, no image pulled): the layer database maps each layer's diff id
# to its directory (overlay2: the layer's own diff; vfs: a full copy of the file system at
# that layer). Only the lines that name packages and versions are printed, each database
# capped at 8 MiB. The containerd image store (Docker 29's default on fresh installs)
# keeps no such database: that is said, not guessed.
layers() {
  info=$(docker info --format '{{.DockerRootDir}}|{{.Driver}}' 2>&1) || { echo "docker info: $info" >&2; exit 3; }
  root=${info%%|*}; driver=${info#*|}
  printf '%sSTORE %s %s\n' "$M" "$driver" "$root"
  db="$root/image/$driver/layerdb/sha256"
  if [ ! -d "$db" ]; then
    if [ -d "$root" ] && [ ! -r "$root" ]; then echo "cannot read $root (audit as root)" >&2; exit 5; fi
    [ -d "$root/image/$driver" ] && return 0  # the engine's own store, with no layer yet
    echo "no layer database under $root/image: storage driver $driver (the containerd image store keeps layers as containerd snapshots)" >&2; exit 4
  fi
  [ -r "$db" ] && [ -x "$db" ] || { echo "cannot read $db (audit as root)" >&2; exit 5; }
  for l in "$db"/*/; do
    [ -f "$l/diff" ] || continue
    cache=$(cat "$l/cache-id" 2>/dev/null)
    case $driver in
      overlay2|overlay) dir="$root/$driver/$cache/diff" ;;
      vfs) dir="$root/vfs/dir/$cache" ;;
      *) dir="" ;;
    esac
    printf '%sLAYER %s %s\n' "$M" "$(cat "$l/diff")" "${dir:-?}"
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then printf '%sMISSING\n' "$M"; continue; fi
    f="$dir/var/lib/dpkg/status"
    if [ -f "$f" ]; then printf '%sDPKG\n' "$M"; head -c 8388608 "$f" | grep -E '^(Package|Version|Status):'; fi
    if [ -d "$dir/var/lib/dpkg/status.d" ]; then
      for f in "$dir"/var/lib/dpkg/status.d/*; do
        [ -f "$f" ] && printf '%sDPKGD\n' "$M" && head -c 1048576 "$f" | grep -E '^(Package|Version):'
      done
    fi
    f="$dir/lib/apk/db/installed"
    if [ -f "$f" ]; then printf '%sAPK\n' "$M"; head -c 8388608 "$f" | grep -E '^[PV]:'; fi
    for f in var/lib/rpm/rpmdb.sqlite usr/lib/sysimage/rpm/rpmdb.sqlite var/lib/rpm/Packages; do
      [ -f "$dir/$f" ] && printf '%sRPM /%s\n' "$M" "$f"
    done
  done
  true
}
sec id 'id -u'
sec host.os 'cat /etc/os-release'
sec host.ps 'ps -eo pid=,ppid=,uid=,comm='
sec host.cgroups "grep -H -E '[0-9a-f]{64}' /proc/[0-9]*/cgroup 2>/dev/null; true"
sec dockerd.cmdline '[ -n "$dpid" ] || { echo "no dockerd process found" >&2; exit 3; }; echo "pid $dpid"; echo "uid $(stat -c %u /proc/$dpid)"; echo "exe $(readlink /proc/$dpid/exe)"; tr "\000" "\n" </proc/$dpid/cmdline'
sec daemon.json 'cfg=/etc/docker/daemon.json; if [ -n "$dpid" ]; then c=$(tr "\000" "\n" </proc/$dpid/cmdline | awk "p{print;exit} /^--config-file=/{sub(/^--config-file=/,\"\");print;exit} /^--config-file\$/{p=1}"); [ -n "$c" ] && cfg=$c; fi; echo "path $cfg"; if [ -e "$cfg" ]; then cat "$cfg"; else echo "absent" >&2; exit 4; fi'
sec docker.info "docker info --format '{{json .}}'"
sec docker.version "docker version --format '{{json .}}'"
sec dockerd.version '[ -n "$dpid" ] || { echo "no dockerd process found" >&2; exit 3; }; exe=$(readlink /proc/$dpid/exe 2>/dev/null); [ -x "$exe" ] || exe=$(command -v dockerd) || { echo "dockerd binary not found" >&2; exit 4; }; echo "exe $exe"; "$exe" --version'
sec docker.inspect 'ids=$(docker ps -aq --no-trunc) || exit $?; if [ -n "$ids" ]; then docker inspect $ids; else echo "[]"; fi'
sec docker.images 'ids=$(docker image ls -q --no-trunc) || exit $?; ids=$(printf "%s\n" $ids | sort -u); if [ -n "$ids" ]; then docker image inspect $ids; else echo "[]"; fi'
sec docker.history 'for i in $(docker image ls -q --no-trunc | sort -u); do echo "#image $i"; docker history --no-trunc --format "{{json .}}" "$i" || echo "#failed $i"; done'
sec docker.networks 'ids=$(docker network ls -q --no-trunc) || exit $?; if [ -n "$ids" ]; then docker network inspect $ids; else echo "[]"; fi'
sec host.group 'getent group docker || grep "^docker:" /etc/group'
sec host.mounts 'cat /proc/self/mountinfo'
sec host.listeners 'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null'
sec host.environment 'grep -Hs "" /etc/environment; grep -Hs DOCKER_CONTENT_TRUST /etc/profile /etc/profile.d/*.sh /etc/bash.bashrc; true'
sec host.which 'for b in dockerd containerd containerd-shim containerd-shim-runc-v1 containerd-shim-runc-v2 runc docker; do p=$(command -v "$b") && echo "$b $p $(readlink -f "$p")"; done; true'
sec host.units 'systemctl show -p Id,FragmentPath,Listen docker.service docker.socket 2>/dev/null; for d in /etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system; do for u in docker.service docker.socket; do [ -f "$d/$u" ] && { echo "#unit $d/$u"; grep -E "^(ListenStream|ExecStart)=" "$d/$u"; }; done; done; true'
sec containerd.config 'if [ -e /etc/containerd/config.toml ]; then cat /etc/containerd/config.toml; else echo absent >&2; exit 4; fi'
sec audit.auditctl 'auditctl -l'
sec audit.files 'rc=0; for d in /etc/audit /etc/audit/rules.d; do if [ -e "$d" ] && ! { [ -r "$d" ] && [ -x "$d" ]; }; then echo "cannot read $d" >&2; rc=5; fi; done; for f in /etc/audit/rules.d/*.rules /etc/audit/audit.rules; do [ -e "$f" ] || continue; if [ -r "$f" ]; then grep -H "" "$f"; else echo "cannot read $f" >&2; rc=5; fi; done; exit $rc'
sec image.layers 'layers  # each layer of the image store (layerdb diff, cache-id): grep Package/Version/Status of var/lib/dpkg/status and status.d, P:/V: of lib/apk/db/installed; rpm databases noted'
sec host.certs_d 'if [ -d /etc/docker/certs.d ]; then find /etc/docker/certs.d -xdev -type f -exec stat -c "%n	%f	%u	%g	%U	%G" {} +; else echo absent >&2; exit 4; fi'
emit
