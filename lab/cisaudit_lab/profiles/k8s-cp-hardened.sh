# lab-kind: k8s-node
# lab-roles: control-plane etcd
# k8s-cp-hardened: a kubeadm-style control-plane node with stacked etcd, configured as the
# CIS Kubernetes Benchmark asks. Control-plane components run as static pods (manifest and
# process agree); the API server takes its authorization modes from an
# --authorization-config file (no --authorization-mode flag); etcd takes some settings
# from ETCD_* variables only; the kubelet reads /var/lib/kubelet/config.yaml; kube-proxy
# reads /var/lib/kube-proxy/config.conf. Flags use both spellings (--flag=value, --flag value).
. "$LAB_DIR/_k8s.sh"

k8s_dirs
k8s_control_plane_pki
for who in admin super-admin scheduler controller-manager kubelet; do
    k8s_kubeconfig "$K8S/$who.conf" "$who"
done
k8s_kubeconfig /var/lib/kube-proxy/kubeconfig.conf kube-proxy

mkdir -p "$K8S/enc" "$K8S/authz" "$K8S/audit" "$K8S/admission"
cat > "$K8S/enc/encryption-config.yaml" <<'YAML'
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      # flow style, as many write it: masking the key must leave the file valid
      - aescbc: {keys: [{name: key1, secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==}]}
      - identity: {}
YAML
cat > "$K8S/authz/authorization-config.yaml" <<'YAML'
apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers:
  - type: Node
    name: node
  - type: RBAC
    name: rbac
YAML
printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n' \
    > "$K8S/audit/policy.yaml"
cat > "$K8S/admission/admission-config.yaml" <<'YAML'
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: EventRateLimit
    configuration:
      apiVersion: eventratelimit.admission.k8s.io/v1alpha1
      kind: Configuration
      limits:
        - type: Server
          qps: 50
          burst: 100
YAML
chmod 0600 "$K8S"/enc/* "$K8S"/authz/* "$K8S"/audit/* "$K8S"/admission/*

static_pod kube-apiserver kube-apiserver:v1.33.2 kube-apiserver \
    --advertise-address=10.0.8.10 \
    --allow-privileged=true \
    --anonymous-auth=false \
    --authorization-config=$K8S/authz/authorization-config.yaml \
    --client-ca-file=$PKI/ca.crt \
    --enable-admission-plugins=NodeRestriction,EventRateLimit,AlwaysPullImages,DenyServiceExternalIPs \
    --admission-control-config-file $K8S/admission/admission-config.yaml \
    --enable-bootstrap-token-auth=true \
    --encryption-provider-config=$K8S/enc/encryption-config.yaml \
    --etcd-cafile=$PKI/etcd/ca.crt \
    --etcd-certfile=$PKI/apiserver-etcd-client.crt \
    --etcd-keyfile $PKI/apiserver-etcd-client.key \
    --etcd-servers=https://127.0.0.1:2379 \
    --kubelet-client-certificate=$PKI/apiserver-kubelet-client.crt \
    --kubelet-client-key=$PKI/apiserver-kubelet-client.key \
    --kubelet-certificate-authority $PKI/ca.crt \
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
    --profiling=false \
    --audit-log-path=/var/log/kubernetes/audit/audit.log \
    --audit-log-maxage 30 \
    --audit-log-maxbackup=10 \
    --audit-log-maxsize=100 \
    --audit-policy-file=$K8S/audit/policy.yaml \
    --request-timeout=60s \
    --secure-port=6443 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file=$PKI/sa.pub \
    --service-account-signing-key-file=$PKI/sa.key \
    --service-account-lookup=true \
    --service-account-extend-token-expiration=false \
    --service-cluster-ip-range=10.96.0.0/12 \
    --tls-cert-file=$PKI/apiserver.crt \
    --tls-private-key-file=$PKI/apiserver.key \
    --tls-cipher-suites=$STRONG_CIPHERS \
    --requestheader-client-ca-file=$PKI/front-proxy-ca.crt \
    --proxy-client-cert-file=$PKI/front-proxy-client.crt \
    --proxy-client-key-file=$PKI/front-proxy-client.key

# controller_manager IMAGE COMMAND...: the static pod of the controller manager with the
# flags of this node (k8s-cp-partial runs the same flags through hyperkube).
controller_manager() {
    image=$1
    shift
    static_pod kube-controller-manager "$image" "$@" \
        --authentication-kubeconfig=$K8S/controller-manager.conf \
        --authorization-kubeconfig=$K8S/controller-manager.conf \
        --bind-address=127.0.0.1 \
        --client-ca-file=$PKI/ca.crt \
        --cluster-signing-cert-file=$PKI/ca.crt \
        --cluster-signing-key-file=$PKI/ca.key \
        --controllers='*,bootstrapsigner,tokencleaner' \
        --kubeconfig=$K8S/controller-manager.conf \
        --leader-elect=true \
        --profiling=false \
        --root-ca-file=$PKI/ca.crt \
        --service-account-private-key-file $PKI/sa.key \
        --terminated-pod-gc-threshold=10 \
        --use-service-account-credentials=true \
        --feature-gates=RotateKubeletServerCertificate=true
}
controller_manager kube-controller-manager:v1.33.2 kube-controller-manager

static_pod kube-scheduler kube-scheduler:v1.33.2 kube-scheduler \
    --authentication-kubeconfig=$K8S/scheduler.conf \
    --authorization-kubeconfig=$K8S/scheduler.conf \
    --bind-address 127.0.0.1 \
    --kubeconfig=$K8S/scheduler.conf \
    --leader-elect=true \
    --profiling=false

# etcd: its data directory belongs to an etcd user; two settings come from the environment.
useradd --system --no-create-home --shell /usr/sbin/nologin etcd
mkdir -p /var/lib/etcd/member
chown -R etcd:etcd /var/lib/etcd
chmod 0700 /var/lib/etcd
K8S_ENV="ETCD_TRUSTED_CA_FILE=$PKI/etcd/ca.crt ETCD_PEER_CLIENT_CERT_AUTH=true"
static_pod etcd etcd:3.5.21-0 etcd \
    --advertise-client-urls=https://10.0.8.10:2379 \
    --cert-file=$PKI/etcd/server.crt \
    --client-cert-auth=true \
    --data-dir=/var/lib/etcd \
    --initial-advertise-peer-urls=https://10.0.8.10:2380 \
    --initial-cluster=lab-k8s-cp-hardened=https://10.0.8.10:2380 \
    --key-file=$PKI/etcd/server.key \
    --listen-client-urls=https://127.0.0.1:2379,https://10.0.8.10:2379 \
    --listen-peer-urls=https://10.0.8.10:2380 \
    --name=lab-k8s-cp-hardened \
    --peer-cert-file=$PKI/etcd/peer.crt \
    --peer-key-file $PKI/etcd/peer.key \
    --peer-trusted-ca-file=$PKI/etcd/ca.crt \
    --snapshot-count=10000
K8S_ENV=

cat > /var/lib/kubelet/config.yaml <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
readOnlyPort: 0
streamingConnectionIdleTimeout: 5m
makeIPTablesUtilChains: true
eventRecordQPS: 5
tlsCertFile: /var/lib/kubelet/pki/kubelet.crt
tlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key
tlsCipherSuites: [$(echo "$STRONG_CIPHERS" | sed 's/,/, /g')]
rotateCertificates: true
serverTLSBootstrap: true
featureGates:
  RotateKubeletServerCertificate: true
podPidsLimit: 4096
seccompDefault: true
protectKernelDefaults: true
staticPodPath: $MANIFESTS
cgroupDriver: systemd
YAML
chmod 0600 /var/lib/kubelet/config.yaml
mkdir -p /var/lib/kubelet/pki
k8s_cert /var/lib/kubelet/pki/kubelet "$PKI/ca" "$(hostname)"
chmod 0600 /var/lib/kubelet/pki/kubelet.key
k8s_kubeadm_dropin /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf
chmod 0600 /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf
k8s_kubelet_unit /usr/lib/systemd/system/kubelet.service
k8s_run /usr/bin/kubelet \
    --bootstrap-kubeconfig=$K8S/bootstrap-kubelet.conf \
    --kubeconfig=$K8S/kubelet.conf \
    --config=/var/lib/kubelet/config.yaml \
    --container-runtime-endpoint=unix:///var/run/containerd/containerd.sock \
    --pod-infra-container-image=registry.k8s.io/pause:3.10

cat > /var/lib/kube-proxy/config.conf <<'YAML'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
metricsBindAddress: 127.0.0.1:10249
mode: iptables
YAML
chmod 0600 /var/lib/kube-proxy/config.conf
k8s_run kube-proxy --config=/var/lib/kube-proxy/config.conf --hostname-override=lab-k8s-cp-hardened

k8s_cni /etc/cni/net.d lab-bridge
chmod 0600 /etc/cni/net.d/10-lab-bridge.conflist /var/lib/cni/networks/lab-bridge/10.244.0.2
