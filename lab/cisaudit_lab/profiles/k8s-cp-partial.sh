# lab-kind: k8s-node
# lab-roles: control-plane etcd
# k8s-cp-partial: the hardened control-plane node, then broken where k8s-cp-weak is not, so
# that every automated node control fails somewhere for real: owners that are not root
# (manifests, kubeconfigs, CNI files, the kube-proxy kubeconfig, the kubelet's client CA),
# an etcd data dir owned by a login user, and an API server that runs without the
# settings it should have (no RBAC in its authorization mode, NamespaceLifecycle disabled,
# no audit log path, a 10 MB audit file, no service-account key, no TLS serving pair, no
# client CA, no encryption config); a scheduler whose configuration file leaves profiling
# on although its command line says --profiling=false; the controller manager run by
# hyperkube.
. "$LAB_DIR/k8s-cp-hardened.sh"

# The API server again, this time with what it should not lack left out.
pkill -x kube-apiserver || true
static_pod kube-apiserver kube-apiserver:v1.33.2 kube-apiserver \
    --advertise-address=10.0.8.30 \
    --anonymous-auth=false \
    --authorization-mode=Node \
    --enable-admission-plugins=NodeRestriction,EventRateLimit,AlwaysPullImages,DenyServiceExternalIPs \
    --disable-admission-plugins=NamespaceLifecycle \
    --etcd-cafile=$PKI/etcd/ca.crt \
    --etcd-certfile=$PKI/apiserver-etcd-client.crt \
    --etcd-keyfile=$PKI/apiserver-etcd-client.key \
    --etcd-servers=https://127.0.0.1:2379 \
    --kubelet-client-certificate=$PKI/apiserver-kubelet-client.crt \
    --kubelet-client-key=$PKI/apiserver-kubelet-client.key \
    --kubelet-certificate-authority=$PKI/ca.crt \
    --profiling=false \
    --audit-log-maxage=30 \
    --audit-log-maxbackup=10 \
    --audit-log-maxsize=100 \
    --service-account-lookup=true \
    --service-account-extend-token-expiration=false \
    --secure-port=6443
chmod 0600 "$MANIFESTS/kube-apiserver.yaml"

# The kubelet trusts a client CA that is world-writable and not root's.
cp "$PKI/ca.crt" /var/lib/kubelet/client-ca.crt
chown nobody:nogroup /var/lib/kubelet/client-ca.crt
chmod 0666 /var/lib/kubelet/client-ca.crt
sed -i "s|clientCAFile: .*|clientCAFile: /var/lib/kubelet/client-ca.crt|" /var/lib/kubelet/config.yaml
pkill -x kubelet || true
k8s_run /usr/bin/kubelet \
    --kubeconfig=$K8S/kubelet.conf \
    --config=/var/lib/kubelet/config.yaml

# The controller manager again, the same flags, run as hyperkube runs it
# (`hyperkube kube-controller-manager ...`): its controls pass as on k8s-cp-hardened.
pkill -x kube-controller || true    # ps shows 15 characters of the name
cp /usr/local/bin/kube-controller-manager /usr/local/bin/hyperkube
controller_manager hyperkube:v1.33.2 hyperkube kube-controller-manager

# The scheduler with a configuration file: --profiling=false on its command line is then
# ignored, and the file does not set enableProfiling, which defaults to true (1.4.1 FAIL).
pkill -x kube-scheduler || true
cat > "$K8S/scheduler-config.yaml" <<'YAML'
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: /etc/kubernetes/scheduler.conf
leaderElection:
  leaderElect: true
YAML
chmod 0600 "$K8S/scheduler-config.yaml"
static_pod kube-scheduler kube-scheduler:v1.33.2 kube-scheduler \
    --config=$K8S/scheduler-config.yaml \
    --authentication-kubeconfig=$K8S/scheduler.conf \
    --authorization-kubeconfig=$K8S/scheduler.conf \
    --bind-address 127.0.0.1 \
    --profiling=false

# Owners and modes that fail (each on a control k8s-cp-weak leaves passing).
useradd --create-home --shell /bin/sh ops 2>/dev/null || true
chown ops:ops "$MANIFESTS/kube-apiserver.yaml" "$MANIFESTS/kube-controller-manager.yaml" \
    "$MANIFESTS/etcd.yaml" "$K8S/admin.conf" "$K8S/scheduler.conf"
chmod 0644 "$MANIFESTS/kube-scheduler.yaml" "$K8S/controller-manager.conf"
chown -R ops:ops /var/lib/etcd
chown ops:ops /etc/cni/net.d/10-lab-bridge.conflist
chown ops:ops /var/lib/kube-proxy/kubeconfig.conf
