# lab-kind: k8s-node
# lab-roles: control-plane etcd worker
# k8s-k3s: a K3s server with embedded etcd, laid out as K3s lays it out. No kube-apiserver,
# kubelet or etcd process runs: one `k3s server` process stands for all of them (the
# component stand-in under the name k3s), and, as K3s does at start, its log
# (/var/log/k3s.log, where installs without systemd write it) holds one "Running
# <component> ..." line per component with the command line K3s gives it. Those are the
# flags a K3s server runs with when hardened as its guide says (anonymous auth off,
# profiling off, NodeRestriction, secrets encryption, an audit log), except that the API
# server's audit log keeps only 7 days (1.2.17 FAIL) and the kubelet's idle streaming
# connections never time out (--streaming-connection-idle-timeout=0, 4.2.5 FAIL).
# Files: K3s's own paths (/var/lib/rancher/k3s), root-owned and restrictive; the admin
# kubeconfig world-readable (1.1.13 FAIL). There are no static pods, so the pod
# specification file controls (1.1.1-1.1.8) have nothing to judge.
. "$LAB_DIR/_k8s.sh"

R=/var/lib/rancher/k3s
TLS=$R/server/tls
CRED=$R/server/cred
AGENT=$R/agent
mkdir -p "$TLS/etcd" "$CRED" "$AGENT" "$R/server/db/etcd/member" "$R/server/logs" \
    /etc/rancher/k3s /etc/cni/net.d /etc/systemd/system

for ca in server-ca client-ca request-header-ca etcd/server-ca etcd/peer-ca; do
    k8s_cert "$TLS/$ca" self "k3s-$(basename "$ca")"
done
k8s_cert "$TLS/serving-kube-apiserver" "$TLS/server-ca" kube-apiserver
k8s_cert "$TLS/client-kube-apiserver" "$TLS/client-ca" system:apiserver
k8s_cert "$TLS/etcd/client" "$TLS/etcd/server-ca" etcd-client
k8s_cert "$TLS/etcd/server-client" "$TLS/etcd/server-ca" etcd-server
k8s_cert "$TLS/etcd/peer-server-client" "$TLS/etcd/peer-ca" etcd-peer
k8s_cert "$AGENT/serving-kubelet" "$TLS/server-ca" "$(hostname)"
k8s_cert "$AGENT/client-kubelet" "$TLS/client-ca" "system:node:$(hostname)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$TLS/service.key" 2>/dev/null
cp "$TLS/service.key" "$TLS/service.current.key"
cp "$TLS/client-ca.crt" "$AGENT/client-ca.crt"
cp "$TLS/server-ca.crt" "$AGENT/server-ca.crt"
chown -R root:root "$R"
find "$TLS" "$AGENT" -name '*.crt' -exec chmod 0644 {} +
find "$TLS" "$AGENT" -name '*.key' -exec chmod 0600 {} +

PKI=$TLS   # k8s_kubeconfig takes the cluster CA from $PKI/ca.crt
cp "$TLS/server-ca.crt" "$TLS/ca.crt"
for who in admin scheduler controller supervisor; do
    k8s_kubeconfig "$CRED/$who.kubeconfig" "$who"
done
k8s_kubeconfig "$AGENT/kubelet.kubeconfig" "system:node:$(hostname)"
k8s_kubeconfig "$AGENT/kubeproxy.kubeconfig" system:kube-proxy
rm -f "$TLS/ca.crt"
chmod 0600 "$CRED"/*.kubeconfig "$AGENT"/*.kubeconfig
chmod 0644 "$CRED/admin.kubeconfig"

cat > "$CRED/encryption-config.json" <<'JSON'
{"kind":"EncryptionConfiguration","apiVersion":"apiserver.config.k8s.io/v1","resources":[{"resources":["secrets"],"providers":[{"aescbc":{"keys":[{"name":"aescbckey","secret":"bGFiLWszcy1lbmNyeXB0aW9uLWtleS0zMmJ5dGVzIQ=="}]}},{"identity":{}}]}]}
JSON
chmod 0600 "$CRED/encryption-config.json"

# Embedded etcd's configuration, as K3s writes it for a server started with --cluster-init.
cat > "$R/server/db/etcd/config" <<YAML
name: $(hostname)-lab
data-dir: $R/server/db/etcd
listen-client-urls: https://127.0.0.1:2379
advertise-client-urls: https://127.0.0.1:2379
listen-peer-urls: https://127.0.0.1:2380
client-transport-security:
  cert-file: $TLS/etcd/server-client.crt
  key-file: $TLS/etcd/server-client.key
  trusted-ca-file: $TLS/etcd/server-ca.crt
  client-cert-auth: true
peer-transport-security:
  cert-file: $TLS/etcd/peer-server-client.crt
  key-file: $TLS/etcd/peer-server-client.key
  trusted-ca-file: $TLS/etcd/peer-ca.crt
  client-cert-auth: true
YAML
chmod 0600 "$R/server/db/etcd/config"
chmod 0700 "$R/server/db/etcd"

# What the administrator wrote: K3s's own configuration file (evidence for remediation).
cat > /etc/rancher/k3s/config.yaml <<'YAML'
cluster-init: true
protect-kernel-defaults: true
secrets-encryption: true
kube-apiserver-arg:
  - "audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log"
  - "audit-log-maxage=7"
  - "audit-log-maxbackup=10"
  - "audit-log-maxsize=100"
kube-controller-manager-arg:
  - "terminated-pod-gc-threshold=10"
kubelet-arg:
  - "streaming-connection-idle-timeout=0"
YAML
chmod 0600 /etc/rancher/k3s/config.yaml
k8s_kubeconfig /etc/rancher/k3s/k3s.yaml admin
chmod 0600 /etc/rancher/k3s/k3s.yaml

cat > /etc/systemd/system/k3s.service <<'UNIT'
[Unit]
Description=Lightweight Kubernetes
[Service]
Type=notify
ExecStart=/usr/local/bin/k3s server
UNIT
chmod 0644 /etc/systemd/system/k3s.service

cat > /etc/cni/net.d/10-flannel.conflist <<'JSON'
{"name":"cbr0","cniVersion":"1.0.0","plugins":[{"type":"flannel","delegate":{"hairpinMode":true,"forceAddress":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}
JSON
chmod 0600 /etc/cni/net.d/10-flannel.conflist

# The component command lines, one log line each, as K3s writes them when it starts.
running() {
    printf 'time="2026-12-05T01:00:00Z" level=info msg="Running %s"\n' "$*"
}
{
    echo 'time="2026-12-05T01:00:00Z" level=info msg="Starting k3s v1.33.2+k3s1 (cisaudit-lab)"'
    running kube-apiserver --admission-control-config-file=$R/server/psa.yaml \
        --advertise-address=10.0.8.60 --advertise-port=6443 --allow-privileged=true \
        --anonymous-auth=false --api-audiences=https://kubernetes.default.svc.cluster.local,k3s \
        --audit-log-maxage=7 --audit-log-maxbackup=10 --audit-log-maxsize=100 \
        --audit-log-path=$R/server/logs/audit.log --authorization-mode=Node,RBAC \
        --bind-address=127.0.0.1 --cert-dir=$TLS/temporary-certs \
        --client-ca-file=$TLS/client-ca.crt \
        --egress-selector-config-file=$R/server/etc/egress-selector-config.yaml \
        --enable-admission-plugins=NodeRestriction --enable-aggregator-routing=true \
        --enable-bootstrap-token-auth=true \
        --encryption-provider-config=$CRED/encryption-config.json \
        --etcd-cafile=$TLS/etcd/server-ca.crt --etcd-certfile=$TLS/etcd/client.crt \
        --etcd-keyfile=$TLS/etcd/client.key --etcd-servers=https://127.0.0.1:2379 \
        --kubelet-certificate-authority=$TLS/server-ca.crt \
        --kubelet-client-certificate=$TLS/client-kube-apiserver.crt \
        --kubelet-client-key=$TLS/client-kube-apiserver.key --profiling=false \
        --request-timeout=300s --secure-port=6444 \
        --service-account-extend-token-expiration=false \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file=$TLS/service.key \
        --service-account-lookup=true \
        --service-account-signing-key-file=$TLS/service.current.key \
        --service-cluster-ip-range=10.43.0.0/16 --storage-backend=etcd3 \
        --tls-cert-file=$TLS/serving-kube-apiserver.crt \
        --tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 \
        --tls-private-key-file=$TLS/serving-kube-apiserver.key
    running kube-controller-manager --allocate-node-cidrs=true \
        --authentication-kubeconfig=$CRED/controller.kubeconfig \
        --authorization-kubeconfig=$CRED/controller.kubeconfig --bind-address=127.0.0.1 \
        --cluster-cidr=10.42.0.0/16 --cluster-signing-kube-apiserver-client-cert-file=$TLS/client-ca.nochain.crt \
        --controllers=*,tokencleaner --kubeconfig=$CRED/controller.kubeconfig \
        --profiling=false --root-ca-file=$TLS/server-ca.crt --secure-port=10257 \
        --service-account-private-key-file=$TLS/service.current.key \
        --terminated-pod-gc-threshold=10 --use-service-account-credentials=true \
        --feature-gates=RotateKubeletServerCertificate=true
    running kube-scheduler --authentication-kubeconfig=$CRED/scheduler.kubeconfig \
        --authorization-kubeconfig=$CRED/scheduler.kubeconfig --bind-address=127.0.0.1 \
        --kubeconfig=$CRED/scheduler.kubeconfig --profiling=false --secure-port=10259
    running kubelet --address=0.0.0.0 --anonymous-auth=false \
        --authentication-token-webhook=true --authorization-mode=Webhook \
        --client-ca-file=$AGENT/client-ca.crt --cluster-dns=10.43.0.10 \
        --cluster-domain=cluster.local --event-qps=0 --fail-swap-on=false \
        --healthz-bind-address=127.0.0.1 --hostname-override=$(hostname) \
        --kubeconfig=$AGENT/kubelet.kubeconfig --make-iptables-util-chains=true \
        --node-labels= --pod-infra-container-image=rancher/mirrored-pause:3.6 \
        --pod-manifest-path=$AGENT/pod-manifests --protect-kernel-defaults=true \
        --read-only-port=0 --resolv-conf=/etc/resolv.conf --rotate-certificates=true \
        --serialize-image-pulls=false --streaming-connection-idle-timeout=0 \
        --tls-cert-file=$AGENT/serving-kubelet.crt \
        --tls-private-key-file=$AGENT/serving-kubelet.key
    running kube-proxy --cluster-cidr=10.42.0.0/16 --conntrack-max-per-core=0 \
        --conntrack-tcp-timeout-close-wait=0s --conntrack-tcp-timeout-established=0s \
        --healthz-bind-address=127.0.0.1 --hostname-override=$(hostname) \
        --kubeconfig=$AGENT/kubeproxy.kubeconfig --proxy-mode=iptables
} > /var/log/k3s.log
chmod 0640 /var/log/k3s.log

cp /usr/local/bin/kube-apiserver /usr/local/bin/k3s
k8s_run k3s server
