# cisaudit Kubernetes node probe. Runs under POSIX sh on the audited node, as root
# (directly or through sudo). Phase 1 (the default) reads the real process table: the
# command line of each Kubernetes component (and etcd's ETCD_* environment), the
# configuration files those command lines name (kubelet --config and --config-dir,
# kube-proxy --config, kube-scheduler --config, etcd --config-file, the API server's encryption, authorization and
# authentication configurations), every static pod manifest, and the kubelet's and API
# server's versions. Phase 2 (CISAUDIT_PHASE=2) runs the functions plan_reads and
# plan_stats that the collector writes from phase 1's output: files named only by a
# manifest, then a stat of every path the node controls look at. Nothing is judged here.
#
# Sections are printed between boundary lines carrying a per-run nonce. Inside a section,
# records start with "$CISAUDIT_NONCE/KIND" lines, so a file's content cannot forge them.
# (sections.sh, prepended by the collector, provides sec and emit)
M="$CISAUDIT_NONCE/"

# The lowest pid whose executable is NAME: ps shows at most 15 characters of a process
# name ("kube-controller"), so the command line's first word or the executable decides.
# A process that merely mentions NAME in its arguments never matches.
# hyperkube (one binary for every component, as older distributions shipped it) runs a
# component as `hyperkube NAME` or `hyperkube SHORT` (apiserver, scheduler ...).
pid_of() {
  short=$(printf %.15s "$1")
  for p in $(ps -eo pid=,comm= 2>/dev/null |
      awk -v c="$short" '$2 == c || $2 == "hyperkube" {print $1}' | sort -n); do
    first=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -n 1)
    exe=$(readlink "/proc/$p/exe" 2>/dev/null)
    if [ "${first##*/}" = hyperkube ] || [ "${exe##*/}" = hyperkube ]; then
      second=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | sed -n 2p)
      if [ "$second" = "$1" ] || [ "$second" = "${1#kube-}" ]; then echo "$p"; return; fi
      continue
    fi
    if [ "${first##*/}" = "$1" ] || [ "${exe##*/}" = "$1" ]; then echo "$p"; return; fi
  done
}

# The value of --NAME (or Go's -NAME) on a process's command line, in either spelling
# (--name=value, --name value); the last occurrence wins, as in the components' parsers.
flag_value() {
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | awk -v n="$2" '
    take { take = 0; if (substr($0, 1, 1) != "-") { v = $0; next } }
    $0 == "--" n || $0 == "-" n { take = 1; next }
    index($0, "--" n "=") == 1 { v = substr($0, length(n) + 4); next }
    index($0, "-" n "=") == 1 { v = substr($0, length(n) + 3); next }
    END { if (v != "") print v }'
}

# absolute PID PATH: PATH as the process names it, made absolute from its working directory.
absolute() {
  case "$2" in /*) echo "$2" ;; *) echo "$(readlink "/proc/$1/cwd")/$2" ;; esac
}

# show LABEL PATH [PID]: a file record with the file's content (1 MiB at most). A
# relative PATH is relative to the process's working directory; the file is read as the
# process sees it (through /proc/PID/root), so a component in a container is read right.
show() {
  path=$2
  case "$path" in /*) ;; *) [ -n "${3:-}" ] && path="$(readlink "/proc/$3/cwd")/$path" ;; esac
  src=$path
  if [ -n "${3:-}" ] && [ -e "/proc/$3/root$path" ]; then src="/proc/$3/root$path"; fi
  if [ -f "$src" ] && [ -r "$src" ]; then
    printf '%sFILE %s %s\n' "$M" "$1" "$path"
    # Secret values (encryption keys, tokens) are masked by the collector as soon as this
    # output arrives, by parsing each file, so that a masked file still means the same.
    head -c 1048576 "$src"
    printf '\n'
  elif [ -e "$src" ]; then
    printf '%sUNREADABLE %s %s\n' "$M" "$1" "$path"
  else
    printf '%sMISSING %s %s\n' "$M" "$1" "$path"
  fi
}

# st PATH [PID]: one stat record (S: mode in hex, owner ids and names; A: absent; E: error),
# of the file as the process PID sees it when PID is given.
st() {
  q=$1
  if [ -n "${2:-}" ] && [ -e "/proc/$2/root$1" ]; then q="/proc/$2/root$1"; fi
  if [ -e "$q" ] || [ -L "$q" ]; then
    if s=$(stat -L -c '%f	%u	%g	%U	%G' -- "$q" 2>&1); then
      printf 'S\t%s\t%s\t%s\n' "$1" "$(readlink -f -- "$q")" "$s"
    else
      printf 'E\t%s\t%s\n' "$1" "$s"
    fi
  else
    printf 'A\t%s\n' "$1"
  fi
}

# tree DIR: a stat record (T) of every file below DIR (D: the walk starts; DA: no DIR).
tree() {
  if [ -d "$1" ]; then
    printf 'D\t%s\n' "$1"
    find "$1" -xdev \( -type f -o -type l \) -exec stat -L -c 'T	%n	%f	%u	%g	%U	%G' {} + 2>/dev/null
    true
  else
    printf 'DA\t%s\n' "$1"
  fi
}

if [ "${CISAUDIT_PHASE:-1}" = 2 ]; then
sec k8s.referenced 'printf "%sCONFIGS\n" "$M"; plan_reads  # cat the files only a manifest names'
sec host.stat 'plan_stats  # stat -L of each file the node controls read; find -type f under the PKI and CNI directories'
else

P_apiserver=$(pid_of kube-apiserver)
P_controller_manager=$(pid_of kube-controller-manager)
P_scheduler=$(pid_of kube-scheduler)
P_etcd=$(pid_of etcd)
P_kubelet=$(pid_of kubelet)
P_proxy=$(pid_of kube-proxy)

# K3s and RKE2. RKE2 runs the control plane as static pods and the kubelet as its own
# process, so the components above are found as on any node. K3s runs every component
# inside one process (`k3s server`, `k3s agent`) and logs each one's effective command
# line when it starts ("Running kube-apiserver --flag=value ..."): those lines, from
# journald or from the log files of installs without systemd, stand for the processes.
pid_named() {
  ps -eo pid=,comm= 2>/dev/null | awk -v a="$1" -v b="$2" -v c="$3" \
    '$2 == a || $2 == b || $2 == c {print $1}' | sort -n | head -n 1
}
P_k3s=$(pid_named k3s k3s-server k3s-agent)
P_rke2=$(pid_named rke2 rke2-server rke2-agent)
K3S_LOGS="/var/log/k3s.log /var/log/k3s-service.log /var/log/k3s-agent.log"
K3S_RUNNING='Running (kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy) '

k3s_lines() {
  if command -v journalctl >/dev/null 2>&1; then
    found=$(journalctl -q --no-pager -o cat -u k3s -u k3s-agent 2>/dev/null | grep -E "$K3S_RUNNING")
    if [ -n "$found" ]; then echo "journald (units k3s, k3s-agent)"; printf '%s\n' "$found"; return; fi
  fi
  for f in $K3S_LOGS; do
    [ -r "$f" ] || continue
    found=$(grep -E "$K3S_RUNNING" "$f")
    if [ -n "$found" ]; then echo "$f"; printf '%s\n' "$found"; return; fi
  done
}

# k3s_proc COMPONENT WHERE: a component's process record: the k3s process, and where its
# command line comes from.
k3s_proc() {
  printf '%sPROC %s %s %s\n' "$M" "$1" "$P_k3s" "$(stat -c %u "/proc/$P_k3s" 2>/dev/null)"
  printf '%sEXE %s\n' "$M" "$(readlink "/proc/$P_k3s/exe" 2>/dev/null)"
  printf '%sCWD %s\n' "$M" "$(readlink "/proc/$P_k3s/cwd" 2>/dev/null)"
  printf '%sFROM %s\n' "$M" "$2"
}

k3s_components() {
  printf '%sDISTRO k3s %s\n' "$M" "$P_k3s"
  lines=$(k3s_lines)
  where=$(printf '%s\n' "$lines" | head -n 1)
  if [ -z "$lines" ]; then
    printf '%sNOLOG no "Running kube-..." line in journald (k3s, k3s-agent) or %s\n' "$M" "$K3S_LOGS"
    return
  fi
  for pair in apiserver:kube-apiserver controller_manager:kube-controller-manager \
      scheduler:kube-scheduler kubelet:kubelet proxy:kube-proxy; do
    c=${pair%%:*} name=${pair#*:}
    line=$(printf '%s\n' "$lines" | sed 1d | grep "Running $name " | tail -n 1)
    [ -n "$line" ] || continue
    args=$(printf '%s\n' "$line" | sed "s/.*Running $name //; s/\"[[:space:]]*\$//" | tr ' ' '\n' | grep -v '^$')
    k3s_proc "$c" "$where"
    printf '%sARGV %s\n' "$M" "$(printf '%s\n%s\n' "$name" "$args" | grep -c '')"
    printf '%s\n%s\n' "$name" "$args"
  done
  # Embedded etcd (servers started with --cluster-init) keeps its configuration file here.
  etcd_config=/var/lib/rancher/k3s/server/db/etcd/config
  if [ -f "$etcd_config" ]; then
    k3s_proc etcd "$etcd_config"
    printf '%sARGV 2\netcd\n--config-file=%s\n' "$M" "$etcd_config"
  fi
}

processes() {
  printf '%sPROCESSES\n' "$M"
  [ -n "$P_rke2" ] && printf '%sDISTRO rke2 %s\n' "$M" "$P_rke2"
  if [ -n "$P_k3s" ] && [ -z "$P_apiserver$P_kubelet" ]; then k3s_components; fi
  for c in apiserver controller_manager scheduler etcd kubelet proxy; do
    eval "p=\$P_$c"
    [ -n "$p" ] || continue
    printf '%sPROC %s %s %s\n' "$M" "$c" "$p" "$(stat -c %u "/proc/$p" 2>/dev/null)"
    printf '%sEXE %s\n' "$M" "$(readlink "/proc/$p/exe" 2>/dev/null)"
    printf '%sCWD %s\n' "$M" "$(readlink "/proc/$p/cwd" 2>/dev/null)"
    # The argument count, so that empty or trailing arguments survive the line format.
    printf '%sARGV %s\n' "$M" "$(tr -cd '\000' <"/proc/$p/cmdline" 2>/dev/null | wc -c)"
    tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null
    if [ "$c" = etcd ] && [ -r "/proc/$p/environ" ]; then
      printf '%sENV\n' "$M"
      tr '\0' '\n' <"/proc/$p/environ" | grep '^ETCD_'
    elif [ "$c" = etcd ]; then
      printf '%sENV unreadable\n' "$M"  # only root may read another user's environment
    fi
  done
  true
}

configs() {
  printf '%sCONFIGS\n' "$M"
  static=""
  if [ -n "$P_kubelet" ]; then
    root="/proc/$P_kubelet/root"
    c=$(flag_value "$P_kubelet" config)
    [ -n "$c" ] && c=$(absolute "$P_kubelet" "$c") && show kubelet.config "$c" "$P_kubelet"
    d=$(flag_value "$P_kubelet" config-dir)
    dropins=""
    if [ -n "$d" ]; then
      d=$(absolute "$P_kubelet" "$d")
      printf '%sDROPINS %s\n' "$M" "$d"
      for f in "$root$d"/*.conf; do  # the kubelet merges them in this (lexical) order
        [ -f "$f" ] && show kubelet.dropin "$d/${f##*/}" "$P_kubelet" && dropins="$dropins $f"
      done
    fi
    static=$(flag_value "$P_kubelet" pod-manifest-path)
    if [ -z "$static" ] && [ -n "$c$dropins" ]; then
      # shellcheck disable=SC2086
      static=$(cat ${c:+"$root$c"} $dropins 2>/dev/null |
        sed -n 's/.*staticPodPath"\{0,1\}[[:space:]]*:[[:space:]]*"\{0,1\}\([^",} #]*\).*/\1/p' | tail -n 1)
    fi
  fi
  if [ -n "$P_proxy" ]; then
    c=$(flag_value "$P_proxy" config)
    if [ -n "$c" ]; then show proxy.config "$c" "$P_proxy"; fi
  fi
  # K3s's embedded etcd: its file names the data directory, whose stat is planned from it
  if [ -n "$P_k3s" ] && [ -z "$P_etcd" ] && [ -f /var/lib/rancher/k3s/server/db/etcd/config ]; then
    show etcd.config /var/lib/rancher/k3s/server/db/etcd/config
  fi
  if [ -n "$P_scheduler" ]; then
    c=$(flag_value "$P_scheduler" config)
    if [ -n "$c" ]; then show scheduler.config "$c" "$P_scheduler"; fi
  fi
  if [ -n "$P_etcd" ]; then
    c=$(flag_value "$P_etcd" config-file)
    [ -n "$c" ] || c=$(tr '\0' '\n' <"/proc/$P_etcd/environ" 2>/dev/null | sed -n 's/^ETCD_CONFIG_FILE=//p' | tail -n 1)
    if [ -n "$c" ]; then show etcd.config "$c" "$P_etcd"; fi
  fi
  if [ -n "$P_apiserver" ]; then
    for pair in encryption:encryption-provider-config authorization:authorization-config \
        authentication:authentication-config; do
      c=$(flag_value "$P_apiserver" "${pair#*:}")
      if [ -n "$c" ]; then show "apiserver.${pair%%:*}" "$c" "$P_apiserver"; fi
    done
  fi
  # Static pod manifests: every file the kubelet would read (it skips dot files).
  for dir in $(printf '%s\n' "$static" /etc/kubernetes/manifests | awk 'NF && !seen[$0]++'); do
    [ -d "$dir" ] || continue
    printf '%sMANIFESTS %s\n' "$M" "$dir"
    for f in "$dir"/*; do
      [ -f "$f" ] && show manifest "$f"
    done
  done
  true
}

versions() {
  if [ -n "$P_k3s" ]; then printf 'k3s %s\n' "$(timeout 10 "/proc/$P_k3s/exe" --version 2>&1 | head -n 1)"; fi
  for c in kubelet kube-apiserver; do
    if [ "$c" = kubelet ]; then p=$P_kubelet; else p=$P_apiserver; fi
    # The running binary answers even when it lives in a container's filesystem.
    if [ -n "$p" ]; then x="/proc/$p/exe"; else x=$(command -v "$c") || continue; fi
    printf '%s %s\n' "$c" "$(timeout 10 "$x" --version 2>&1 | head -n 1)"
  done
  true
}

sec id 'id -u'
sec host.os 'cat /etc/os-release'
sec k8s.processes 'processes  # ps; /proc/PID/{cmdline,exe,cwd} of each component, ETCD_* of /proc/PID/environ'
sec k8s.configs 'configs  # cat the files named by --config, --config-dir, --config-file, --encryption-provider-config, --authorization-config, --authentication-config; the static pod manifests'
sec k8s.version 'versions  # /proc/PID/exe --version of the kubelet and kube-apiserver'
sec host.units 'systemctl show -p Id -p FragmentPath -p DropInPaths kubelet.service etcd.service 2>/dev/null; true'
fi
emit
