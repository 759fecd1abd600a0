# lab-kind: k8s-node
# lab-roles: worker
# k8s-worker-weak: a worker node where the kubelet and kube-proxy controls fail. The
# kubelet's configuration is JSON (EKS style) with insecure values, including
# "seccompDefault": false (set, but false); its --read-only-port flag overrides the file's
# 0. kube-proxy has --config, so its compliant --metrics-bind-address flag is ignored and
# the file's 0.0.0.0 binding counts. The kubelet's systemd unit has no kubeadm drop-in.
. "$LAB_DIR/_k8s.sh"

k8s_dirs
k8s_worker_pki
k8s_kubeconfig "$K8S/kubelet.conf" kubelet
k8s_kubeconfig /var/lib/kube-proxy/kubeconfig.conf kube-proxy

cat > "$K8S/kubelet-config.json" <<'JSON'
{
  "kind": "KubeletConfiguration",
  "apiVersion": "kubelet.config.k8s.io/v1beta1",
  "authentication": {"anonymous": {"enabled": true}, "webhook": {"enabled": false}},
  "authorization": {"mode": "AlwaysAllow"},
  "readOnlyPort": 0,
  "streamingConnectionIdleTimeout": "0s",
  "makeIPTablesUtilChains": false,
  "eventRecordQPS": 0,
  "seccompDefault": false,
  "featureGates": {"RotateKubeletServerCertificate": false},
  "staticPodPath": "/etc/kubernetes/manifests"
}
JSON
chown nobody:nogroup "$K8S/kubelet-config.json"
chmod 0644 "$K8S/kubelet-config.json"
k8s_kubelet_unit /lib/systemd/system/kubelet.service
chmod 0644 /lib/systemd/system/kubelet.service
chown root:nogroup /lib/systemd/system/kubelet.service
rmdir /usr/lib/systemd/system/kubelet.service.d
k8s_run /usr/bin/kubelet \
    --config=$K8S/kubelet-config.json \
    --kubeconfig $K8S/kubelet.conf \
    --read-only-port 10255 \
    --hostname-override=weak-worker \
    --tls-cipher-suites=$WEAK_CIPHERS

cat > /var/lib/kube-proxy/config.conf <<'YAML'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
metricsBindAddress: 0.0.0.0:10249
YAML
k8s_run kube-proxy --config=/var/lib/kube-proxy/config.conf --metrics-bind-address=127.0.0.1:10249

chmod 0644 "$K8S/kubelet.conf"
chown nobody:nogroup "$K8S/kubelet.conf"
chmod 0606 /var/lib/kube-proxy/kubeconfig.conf
chmod 0666 "$PKI/ca.crt"
k8s_cni /etc/cni/net.d lab-bridge
chmod 0644 /etc/cni/net.d/10-lab-bridge.conflist
printf '{"cniVersion": "1.0.0", "name": "lo", "type": "loopback"}\n' > /etc/cni/net.d/99-loopback.conf
chown nobody:nogroup /etc/cni/net.d/99-loopback.conf
chmod 0666 /etc/cni/net.d/99-loopback.conf
