# lab-kind: k8s-node
# lab-roles: control-plane etcd
# k8s-cp-weak: a control-plane node with stacked etcd where the CIS controls fail, built to
# trip naive checks: flags left unset where the component's default is insecure
# (--anonymous-auth, --profiling, --bind-address), a repeated flag whose last value wins,
# "--flag value" spellings, a bare boolean flag, an etcd flag that overrides a compliant
# ETCD_* variable, a scheduler that is not running (its flags come from its manifest), a
# kubelet with no configuration file (legacy defaults), a decoy process whose arguments
# mention compliant kube-apiserver flags, and modes such as 0606 that a decimal compare
# gets wrong. No kube-proxy runs here.
. "$LAB_DIR/_k8s.sh"

k8s_dirs
k8s_control_plane_pki
for who in admin scheduler controller-manager kubelet; do   # no super-admin.conf
    k8s_kubeconfig "$K8S/$who.conf" "$who"
done
mkdir -p "$K8S/enc"
cat > "$K8S/enc/encryption-config.yaml" <<'YAML'
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - identity: {}
      - aescbc:
          keys:
            - name: key1
              secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==
YAML
printf 'lab-token,admin,1,"system:masters"\n' > "$K8S/tokens.csv"
chmod 0600 "$K8S/enc/encryption-config.yaml" "$K8S/tokens.csv"

static_pod kube-apiserver kube-apiserver:v1.33.2 kube-apiserver \
    --advertise-address=10.0.8.20 \
    --allow-privileged=true \
    --authorization-mode AlwaysAllow,RBAC \
    --client-ca-file=$PKI/ca.crt \
    --enable-admission-plugins=AlwaysAdmit,NamespaceLifecycle \
    --disable-admission-plugins ServiceAccount \
    --encryption-provider-config=$K8S/enc/encryption-config.yaml \
    --etcd-servers=http://127.0.0.1:2379 \
    --token-auth-file=$K8S/tokens.csv \
    --service-account-lookup=false \
    --service-account-key-file=$PKI/sa.pub \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --audit-log-path=/var/log/kubernetes/audit/audit.log \
    --audit-log-maxage=7 \
    --audit-log-maxbackup=10 \
    --audit-log-maxbackup=2 \
    --audit-log-maxsize 10 \
    --tls-cipher-suites=$WEAK_CIPHERS \
    --profiling \
    --secure-port=6443 \
    --tls-cert-file=$PKI/apiserver.crt \
    --tls-private-key-file=$PKI/apiserver.key

static_pod kube-controller-manager kube-controller-manager:v1.33.2 kube-controller-manager \
    --kubeconfig=$K8S/controller-manager.conf \
    --use-service-account-credentials=false \
    --feature-gates=RotateKubeletServerCertificate=false,GracefulNodeShutdown=true \
    --leader-elect=true

# The scheduler's manifest exists but its process is not running (crash-looping, say):
# its settings can only be read from the manifest.
k8s_manifest kube-scheduler kube-scheduler:v1.33.2 kube-scheduler \
    --kubeconfig=$K8S/scheduler.conf \
    --leader-elect=true

# etcd: the environment asks for client certificates, the command line says no (and wins).
mkdir -p /var/lib/etcd/member
chown -R root:root /var/lib/etcd
chmod 0755 /var/lib/etcd
# Its cluster tokens are secrets that must not reach the evidence (redacted when collected).
K8S_ENV="ETCD_CLIENT_CERT_AUTH=true ETCD_AUTO_TLS=true ETCD_INITIAL_CLUSTER_TOKEN=envtoken-Kx81wq"
static_pod etcd etcd:3.5.21-0 etcd \
    --name=lab-k8s-cp-weak \
    --initial-cluster-token=argtoken-Jm27fz \
    --data-dir /var/lib/etcd \
    --listen-client-urls=http://0.0.0.0:2379 \
    --advertise-client-urls=http://10.0.8.20:2379 \
    --client-cert-auth=false \
    --peer-auto-tls
K8S_ENV=

# A kubelet configured by flags only: no --config, so the legacy flag defaults apply
# (anonymous auth on, AlwaysAllow, read-only port 10255).
k8s_kubeadm_dropin /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
chmod 0644 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
k8s_run /usr/bin/kubelet \
    --kubeconfig=$K8S/kubelet.conf \
    --pod-manifest-path=$MANIFESTS \
    --hostname-override=lab-cp-weak-node \
    --make-iptables-util-chains=false \
    --streaming-connection-idle-timeout=0 \
    --event-qps=0 \
    --rotate-certificates=false

# Not a kube-apiserver: a log shipper whose arguments mention compliant API server flags.
cp /usr/local/bin/kube-apiserver /usr/local/bin/kube-log-tail
k8s_run kube-log-tail --source=/usr/local/bin/kube-apiserver --anonymous-auth=false \
    --profiling=false --authorization-mode=Node,RBAC

# Modes and owners that fail.
chmod 0644 "$MANIFESTS/kube-apiserver.yaml"
chmod 0606 "$MANIFESTS/kube-controller-manager.yaml"
chown nobody:nogroup "$MANIFESTS/kube-scheduler.yaml"
chmod 0640 "$MANIFESTS/etcd.yaml"
chmod 0606 "$K8S/admin.conf"
chmod 0644 "$K8S/scheduler.conf"
chown nobody:nogroup "$K8S/controller-manager.conf"
chmod 0644 "$K8S/kubelet.conf"
chmod 0644 "$PKI/ca.key" "$PKI/sa.key"
chmod 0666 "$PKI/apiserver.crt"
chown nobody:nogroup "$PKI/front-proxy-client.key"
k8s_cni /etc/cni/net.d lab-bridge
chmod 0644 /etc/cni/net.d/10-lab-bridge.conflist
chmod 0606 /var/lib/cni/networks/lab-bridge/10.244.0.2
