# lab-kind: k8s-node
# lab-roles: worker
# k8s-worker-hardened: a worker node configured as the CIS Kubernetes Benchmark asks. The
# kubelet reads /var/lib/kubelet/config.yaml and a drop-in directory (--config-dir) whose
# file overrides the base file's insecure read-only port; kube-proxy is configured by flags
# only (no --config). No control-plane component, no manifest, no admin kubeconfig.
. "$LAB_DIR/_k8s.sh"

k8s_dirs
k8s_worker_pki
k8s_kubeconfig "$K8S/kubelet.conf" kubelet
k8s_kubeconfig /var/lib/kube-proxy/kubeconfig.conf kube-proxy

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
readOnlyPort: 10255
streamingConnectionIdleTimeout: 30m
makeIPTablesUtilChains: true
rotateCertificates: true
serverTLSBootstrap: true
tlsCipherSuites: [$(echo "$STRONG_CIPHERS" | sed 's/,/, /g')]
staticPodPath: $MANIFESTS
YAML
mkdir -p "$K8S/kubelet.conf.d"
cat > "$K8S/kubelet.conf.d/20-hardening.conf" <<'YAML'
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
readOnlyPort: 0
podPidsLimit: 1024
seccompDefault: true
protectKernelDefaults: true
tlsCertFile: /var/lib/kubelet/pki/kubelet.crt
tlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key
YAML
chmod 0600 /var/lib/kubelet/config.yaml "$K8S/kubelet.conf.d/20-hardening.conf"
k8s_kubeadm_dropin /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
chmod 0600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
k8s_kubelet_unit /usr/lib/systemd/system/kubelet.service
k8s_run /usr/bin/kubelet \
    --config /var/lib/kubelet/config.yaml \
    --config-dir=$K8S/kubelet.conf.d \
    --kubeconfig=$K8S/kubelet.conf \
    --container-runtime-endpoint=unix:///var/run/containerd/containerd.sock

k8s_run kube-proxy \
    --kubeconfig=/var/lib/kube-proxy/kubeconfig.conf \
    --metrics-bind-address 127.0.0.1:10249 \
    --hostname-override=lab-k8s-worker-hardened

k8s_cni /etc/cni/net.d lab-bridge
chmod 0600 /etc/cni/net.d/10-lab-bridge.conflist /var/lib/cni/networks/lab-bridge/10.244.0.2
