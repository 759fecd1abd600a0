# lab-kind: auto
# docker-and-kubelet: a Docker engine with a kubelet beside it, as on a node whose
# container runtime is Docker's. Its inventory entry names no kind, so the audit must find
# out by itself what runs here and run both benchmarks (Docker, and the Kubernetes worker
# node controls). Not part of the shared lab: tests start it on its own.
. "$LAB_DIR/_k8s.sh"

rm -f /etc/default/docker /etc/docker/daemon.json
start_dockerd

k8s_dirs
k8s_worker_pki
k8s_kubeconfig "$K8S/kubelet.conf" kubelet
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
YAML
chmod 0600 /var/lib/kubelet/config.yaml
k8s_kubelet_unit /lib/systemd/system/kubelet.service
k8s_run /usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --kubeconfig $K8S/kubelet.conf
