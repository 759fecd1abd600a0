# lab-kind: k8s-node
# lab-roles: etcd
# k8s-etcd: an external etcd member run as a plain service (not a static pod; no kubelet
# runs here), configured by a --config-file. etcd then ignores its other flags and every
# ETCD_* variable: this host sets compliant-looking ETCD_* variables that must not count,
# and its file enables peer auto-TLS. Client TLS is as CIS asks; the data directory
# (a relative data-dir, resolved from etcd's working directory) belongs to the etcd user.
. "$LAB_DIR/_k8s.sh"

k8s_dirs
k8s_cert "$PKI/etcd/ca" self etcd-ca
k8s_cert "$PKI/etcd/server" "$PKI/etcd/ca" "$(hostname)"
k8s_cert "$PKI/etcd/peer" "$PKI/etcd/ca" "$(hostname)"
k8s_pki_modes 0644 0600

useradd --system --no-create-home --shell /usr/sbin/nologin etcd
mkdir -p /var/lib/etcd/data.etcd/member /etc/etcd
chown -R etcd:etcd /var/lib/etcd
chmod 0700 /var/lib/etcd/data.etcd
cat > /etc/etcd/etcd.conf.yml <<YAML
name: lab-k8s-etcd
data-dir: data.etcd
initial-cluster-token: conftoken-Qp39vn
listen-client-urls: https://127.0.0.1:2379
advertise-client-urls: https://127.0.0.1:2379
listen-peer-urls: https://127.0.0.1:2380
client-transport-security:
  cert-file: $PKI/etcd/server.crt
  key-file: $PKI/etcd/server.key
  client-cert-auth: true
  trusted-ca-file: $PKI/etcd/ca.crt
  auto-tls: false
peer-transport-security:
  cert-file: $PKI/etcd/peer.crt
  key-file: $PKI/etcd/peer.key
  client-cert-auth: true
  trusted-ca-file: $PKI/etcd/ca.crt
  auto-tls: true
YAML
chmod 0600 /etc/etcd/etcd.conf.yml
cat > /lib/systemd/system/etcd.service <<'UNIT'
[Unit]
Description=etcd key-value store
[Service]
WorkingDirectory=/var/lib/etcd
ExecStart=/usr/local/bin/etcd --config-file /etc/etcd/etcd.conf.yml
UNIT
# As systemd would start it: from its working directory, with an environment file.
cd /var/lib/etcd
K8S_ENV="ETCD_PEER_AUTO_TLS=false ETCD_DATA_DIR=/var/lib/etcd/ignored"
k8s_run /usr/local/bin/etcd --config-file /etc/etcd/etcd.conf.yml --client-cert-auth=false
K8S_ENV=
cd /
