# Shell helpers for Kubernetes node profiles (k8s-*.sh), sourced after _lib.sh inside a
# lab host, as root, with `set -eu`.
#
# The host image carries stand-ins for kube-apiserver, kube-controller-manager,
# kube-scheduler, kube-proxy, etcd (/usr/local/bin) and kubelet (/usr/bin): tiny programs
# that keep their command line and sleep (recipe/k8s-standin.c). These helpers lay out a
# kubeadm-like node around them: PKI, kubeconfigs, static pod manifests whose command is
# exactly the one the process runs with, kubelet and kube-proxy configuration files, CNI
# configuration. Every profile then sets modes and owners itself.

K8S=/etc/kubernetes
PKI=$K8S/pki
MANIFESTS=$K8S/manifests

k8s_dirs() {
    mkdir -p "$MANIFESTS" "$PKI/etcd" /var/lib/kubelet /var/lib/kube-proxy /etc/cni/net.d \
        /var/log/kubernetes/audit /usr/lib/systemd/system/kubelet.service.d
}

# k8s_cert DIR/NAME CA-BASE SUBJECT: an EC key and a certificate signed by CA-BASE.{crt,key}
# (a self-signed CA when CA-BASE is "self").
k8s_cert() {
    if [ "$2" = self ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
            -subj "/CN=$3" -keyout "$1.key" -out "$1.crt" 2>/dev/null
    else
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -subj "/CN=$3" -keyout "$1.key" -out "$1.csr" 2>/dev/null
        openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 30 \
            -out "$1.crt" 2>/dev/null
        rm -f "$1.csr" "$2.srl"
    fi
}

# The PKI of a kubeadm control-plane node under /etc/kubernetes/pki.
k8s_control_plane_pki() {
    k8s_cert "$PKI/ca" self kubernetes
    k8s_cert "$PKI/front-proxy-ca" self front-proxy-ca
    k8s_cert "$PKI/etcd/ca" self etcd-ca
    k8s_cert "$PKI/apiserver" "$PKI/ca" kube-apiserver
    k8s_cert "$PKI/apiserver-kubelet-client" "$PKI/ca" kube-apiserver-kubelet-client
    k8s_cert "$PKI/apiserver-etcd-client" "$PKI/etcd/ca" kube-apiserver-etcd-client
    k8s_cert "$PKI/front-proxy-client" "$PKI/front-proxy-ca" front-proxy-client
    k8s_cert "$PKI/etcd/server" "$PKI/etcd/ca" "$(hostname)"
    k8s_cert "$PKI/etcd/peer" "$PKI/etcd/ca" "$(hostname)"
    k8s_cert "$PKI/etcd/healthcheck-client" "$PKI/etcd/ca" kube-etcd-healthcheck-client
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$PKI/sa.key" 2>/dev/null
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    k8s_pki_modes 0644 0600
}

# A worker's PKI: only the cluster CA certificate (its key stays on the control plane).
k8s_worker_pki() {
    k8s_cert "$T_CA" self kubernetes
    cp "$T_CA.crt" "$PKI/ca.crt"
    rm -f "$T_CA.crt" "$T_CA.key"
    k8s_pki_modes 0644 0600
}
T_CA=/tmp/lab-worker-ca

# k8s_pki_modes CRT-MODE KEY-MODE: root-owned PKI with these modes (*.pub as certificates).
k8s_pki_modes() {
    chown -R root:root "$PKI"
    find "$PKI" -type f \( -name '*.crt' -o -name '*.pub' \) -exec chmod "$1" {} +
    find "$PKI" -type f -name '*.key' -exec chmod "$2" {} +
}

# k8s_kubeconfig PATH USER: a kubeconfig for USER against the lab cluster.
k8s_kubeconfig() {
    mkdir -p "$(dirname "$1")"
    cat > "$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://10.0.8.10:6443
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
contexts:
- name: $2@lab
  context: {cluster: lab, user: $2}
current-context: $2@lab
users:
- name: $2
  user:
    client-certificate-data: $(printf 'lab client certificate of %s' "$2" | base64 -w0)
KUBECONFIG
    chown root:root "$1"
    chmod 0600 "$1"
}

# k8s_manifest NAME IMAGE ARG...: a static pod manifest whose container runs ARG...
# (each argument one list item, single-quoted YAML). Environment variables for the
# container come from $K8S_ENV ("NAME=value" words).
k8s_manifest() {
    name=$1 image=$2
    shift 2
    {
        printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: kube-system\n' "$name"
        printf '  labels:\n    component: %s\n    tier: control-plane\n' "$name"
        printf 'spec:\n  hostNetwork: true\n  priorityClassName: system-node-critical\n'
        printf '  containers:\n  - name: %s\n    image: registry.k8s.io/%s\n    command:\n' "$name" "$image"
        for arg in "$@"; do
            printf "    - '%s'\n" "$(printf '%s' "$arg" | sed "s/'/''/g")"
        done
        if [ -n "${K8S_ENV:-}" ]; then
            printf '    env:\n'
            for pair in $K8S_ENV; do
                printf "    - name: %s\n      value: '%s'\n" "${pair%%=*}" "${pair#*=}"
            done
        fi
    } > "$MANIFESTS/$name.yaml"
    chown root:root "$MANIFESTS/$name.yaml"
    chmod 0600 "$MANIFESTS/$name.yaml"
}

# k8s_run ARG...: start a component in the background with exactly these arguments
# (and the variables of $K8S_ENV in its environment).
k8s_run() {
    # shellcheck disable=SC2086
    env ${K8S_ENV:-} "$@" < /dev/null > /dev/null 2>&1 &
    log "started $1 (pid $!)"
}

# static_pod NAME IMAGE ARG...: the manifest, and the process it describes (running).
static_pod() {
    k8s_manifest "$@"
    shift 2
    k8s_run "$@"
}

# k8s_kubeadm_dropin PATH: the systemd drop-in kubeadm's packages install for the kubelet.
k8s_kubeadm_dropin() {
    mkdir -p "$(dirname "$1")"
    cat > "$1" <<'UNIT'
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
UNIT
}

# k8s_kubelet_unit PATH: the kubelet's own systemd unit.
k8s_kubelet_unit() {
    mkdir -p "$(dirname "$1")"
    printf '[Unit]\nDescription=kubelet: The Kubernetes Node Agent\n\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n' > "$1"
}

# k8s_cni DIR NAME: a bridge CNI configuration list, and the IPAM allocation file the
# host-local plugin keeps under /var/lib/cni/networks.
k8s_cni() {
    mkdir -p "$1" "/var/lib/cni/networks/$2"
    cat > "$1/10-$2.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "$2",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
    echo "lab-pod-sandbox-1" > "/var/lib/cni/networks/$2/10.244.0.2"
    chown root:root "$1/10-$2.conflist" "/var/lib/cni/networks/$2/10.244.0.2"
}

# Ciphers CIS accepts for the API server (1.2.29) and the kubelet (4.2.12).
STRONG_CIPHERS=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305
WEAK_CIPHERS=TLS_RSA_WITH_AES_128_CBC_SHA,TLS_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
