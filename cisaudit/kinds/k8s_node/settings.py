"""Effective settings of Kubernetes components: real defaults, flags, precedence.

Where a component leaves a setting unset, its **real default** applies (the tables below,
Kubernetes 1.33 / etcd 3.5, each with its source of truth), so an unset ``--profiling``
reads ``"true"`` and an unset ``--bind-address`` reads ``"0.0.0.0"``: absence never passes
by accident. Precedence is each component's own:

* kube-apiserver, kube-controller-manager, kube-scheduler: flag, else default. The API
  server's ``--authorization-config`` and ``--authentication-config`` files stand in for
  ``--authorization-mode`` and ``--anonymous-auth`` when those flags are unset.
* kubelet: flag, else the ``--config`` file merged with the ``--config-dir`` drop-ins
  (in lexical order), else default. Without ``--config`` the kubelet keeps its legacy
  flag defaults (anonymous auth on, ``AlwaysAllow``, read-only port 10255).
* etcd: with ``--config-file`` (or ``ETCD_CONFIG_FILE``) only the file counts, flags and
  ``ETCD_*`` variables are ignored; otherwise flag, else ``ETCD_*`` variable, else default.
* kube-proxy: with ``--config`` only the file counts (its other flags are ignored, except
  ``--hostname-override``); otherwise flag, else default.

Setting values are strings as a command line spells them: booleans ``"true"``/``"false"``
(any spelling Go accepts, normalised), lists comma-joined, feature gates ``"Name=bool"``,
durations in Go's canonical form (``"5m0s"``, ``"0s"``). Pure functions only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# -- real defaults ------------------------------------------------------------------------
# kube-apiserver (reference: kube-apiserver command line, Kubernetes 1.33).
APISERVER_DEFAULTS: dict[str, str] = {
    "anonymous-auth": "true",  # anonymous requests are allowed unless disabled
    "authorization-mode": "AlwaysAllow",  # with neither --authorization-mode nor -config
    "profiling": "true",
    "service-account-lookup": "true",
    "service-account-extend-token-expiration": "true",
    "audit-log-maxage": "0",  # 0: old audit files are never removed by age...
    "audit-log-maxbackup": "0",  # ...nor by count...
    "audit-log-maxsize": "0",  # ...and the log is never rotated by size
    "request-timeout": "1m0s",
    "bind-address": "0.0.0.0",
    "secure-port": "6443",
    "allow-privileged": "false",
    "enable-bootstrap-token-auth": "false",
    "enable-admission-plugins": "",  # plugins enabled on top of the default-on set below
    "disable-admission-plugins": "",
    "feature-gates": "",
    "tls-cipher-suites": "",  # Go's default suites
    "tls-min-version": "",  # Go's default (TLS 1.2)
}
# Admission plugins on by default (kube-apiserver 1.33 --enable-admission-plugins help).
APISERVER_DEFAULT_ADMISSION = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "TaintNodesByCondition",
    "PodSecurity",
    "Priority",
    "DefaultTolerationSeconds",
    "DefaultStorageClass",
    "StorageObjectInUseProtection",
    "PersistentVolumeClaimResize",
    "RuntimeClass",
    "CertificateApproval",
    "CertificateSigning",
    "ClusterTrustBundleAttest",
    "CertificateSubjectRestriction",
    "DefaultIngressClass",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)
# kube-controller-manager (reference: its command line, 1.33).
CONTROLLER_MANAGER_DEFAULTS: dict[str, str] = {
    "profiling": "true",
    "use-service-account-credentials": "false",
    "bind-address": "0.0.0.0",
    "secure-port": "10257",
    "terminated-pod-gc-threshold": "12500",
    "leader-elect": "true",
    "feature-gates": "",
}
# kube-scheduler (reference: its command line, 1.33).
SCHEDULER_DEFAULTS: dict[str, str] = {
    "profiling": "true",
    "bind-address": "0.0.0.0",
    "secure-port": "10259",
    "leader-elect": "true",
}
# etcd 3.5 (reference: etcd configuration options). data-dir defaults to "${name}.etcd",
# relative to etcd's working directory: computed from the effective name.
ETCD_DEFAULTS: dict[str, str] = {
    "name": "default",
    "client-cert-auth": "false",
    "peer-client-cert-auth": "false",
    "auto-tls": "false",
    "peer-auto-tls": "false",
    "listen-client-urls": "http://localhost:2379",
    "listen-peer-urls": "http://localhost:2380",
    "enable-pprof": "false",
    "cipher-suites": "",
    "tls-min-version": "TLS1.2",
}
# kubelet with a --config file: KubeletConfiguration v1beta1 defaults
# (pkg/kubelet/apis/config/v1beta1/defaults.go); fields it does not default are Go zero
# values (readOnlyPort 0, rotateCertificates false, ...).
KUBELET_DEFAULTS: dict[str, str] = {
    "anonymous-auth": "false",
    "authentication-token-webhook": "true",
    "authorization-mode": "Webhook",
    "client-ca-file": "",
    "read-only-port": "0",
    "port": "10250",
    "address": "0.0.0.0",
    "streaming-connection-idle-timeout": "4h0m0s",
    "make-iptables-util-chains": "true",
    "event-qps": "50",
    "event-burst": "100",
    "rotate-certificates": "false",
    "rotate-server-certificates": "false",
    "pod-max-pids": "-1",  # -1: no per-pod limit (the node's allocatable PIDs)
    "seccomp-default": "false",
    "protect-kernel-defaults": "false",
    "tls-cert-file": "",  # none: the kubelet makes a self-signed certificate
    "tls-private-key-file": "",
    "tls-cipher-suites": "",
    "tls-min-version": "",
    "feature-gates": "",
    "healthz-bind-address": "127.0.0.1",
    "healthz-port": "10248",
    "enable-debugging-handlers": "true",
    "fail-swap-on": "true",
    "pod-manifest-path": "",
}
# kubelet without --config: the legacy flag defaults (cmd/kubelet/app/options/options.go,
# applyLegacyDefaults) replace four of the above.
KUBELET_LEGACY_DEFAULTS: dict[str, str] = {
    "anonymous-auth": "true",
    "authentication-token-webhook": "false",
    "authorization-mode": "AlwaysAllow",
    "read-only-port": "10255",
}
# kube-proxy (reference: kube-proxy command line / KubeProxyConfiguration v1alpha1, 1.33).
PROXY_DEFAULTS: dict[str, str] = {
    "metrics-bind-address": "127.0.0.1:10249",
    "healthz-bind-address": "0.0.0.0:10256",
    "bind-address": "0.0.0.0",
    "profiling": "false",
    "kubeconfig": "",
    "hostname-override": "",
}
# Feature gates whose default matters to CIS: on by default (beta since 1.12).
FEATURE_GATE_DEFAULTS: dict[str, dict[str, bool]] = {
    "kubelet": {"RotateKubeletServerCertificate": True},
    "controller_manager": {"RotateKubeletServerCertificate": True},
}

# kubelet flag -> KubeletConfiguration field (dotted); the flags CIS section 4 reads, and more.
KUBELET_CONFIG_KEYS: dict[str, str] = {
    "anonymous-auth": "authentication.anonymous.enabled",
    "authentication-token-webhook": "authentication.webhook.enabled",
    "client-ca-file": "authentication.x509.clientCAFile",
    "authorization-mode": "authorization.mode",
    "read-only-port": "readOnlyPort",
    "port": "port",
    "address": "address",
    "streaming-connection-idle-timeout": "streamingConnectionIdleTimeout",
    "make-iptables-util-chains": "makeIPTablesUtilChains",
    "event-qps": "eventRecordQPS",
    "event-burst": "eventBurst",
    "rotate-certificates": "rotateCertificates",
    "rotate-server-certificates": "serverTLSBootstrap",
    "pod-max-pids": "podPidsLimit",
    "seccomp-default": "seccompDefault",
    "protect-kernel-defaults": "protectKernelDefaults",
    "tls-cert-file": "tlsCertFile",
    "tls-private-key-file": "tlsPrivateKeyFile",
    "tls-cipher-suites": "tlsCipherSuites",
    "tls-min-version": "tlsMinVersion",
    "feature-gates": "featureGates",
    "healthz-bind-address": "healthzBindAddress",
    "healthz-port": "healthzPort",
    "enable-debugging-handlers": "enableDebuggingHandlers",
    "fail-swap-on": "failSwapOn",
    "pod-manifest-path": "staticPodPath",
    "cgroup-driver": "cgroupDriver",
    "max-pods": "maxPods",
    "container-runtime-endpoint": "containerRuntimeEndpoint",
}
# KubeletConfiguration fields holding paths: relative ones are relative to the file.
KUBELET_PATH_FIELDS = (
    "authentication.x509.clientCAFile",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "staticPodPath",
)
PROXY_CONFIG_KEYS: dict[str, str] = {
    "metrics-bind-address": "metricsBindAddress",
    "healthz-bind-address": "healthzBindAddress",
    "bind-address": "bindAddress",
    "profiling": "enableProfiling",
    "kubeconfig": "clientConnection.kubeconfig",
    "hostname-override": "hostnameOverride",
    "proxy-mode": "mode",
    "cluster-cidr": "clusterCIDR",
    "feature-gates": "featureGates",
}
# etcd --config-file: TLS settings sit in two sections; the rest are top-level flag names.
ETCD_TLS_SECTIONS: dict[str, str] = {
    "client-transport-security": "",
    "peer-transport-security": "peer-",
}
ETCD_TLS_KEYS = (
    "cert-file",
    "key-file",
    "client-cert-auth",
    "trusted-ca-file",
    "auto-tls",
    "allowed-cn",
    "allowed-hostname",
)

# Boolean flags: given bare they mean true and never take the next argument as a value.
BOOLEAN_FLAGS: dict[str, frozenset[str]] = {
    "apiserver": frozenset(
        {
            "anonymous-auth",
            "profiling",
            "contention-profiling",
            "service-account-lookup",
            "service-account-extend-token-expiration",
            "allow-privileged",
            "enable-bootstrap-token-auth",
            "enable-aggregator-routing",
            "enable-garbage-collector",
            "enable-priority-and-fairness",
            "audit-log-compress",
            "enable-logs-handler",
            "authentication-token-webhook",
            "watch-cache",
            "logtostderr",
        }
    ),
    "controller_manager": frozenset(
        {
            "profiling",
            "contention-profiling",
            "use-service-account-credentials",
            "leader-elect",
            "allocate-node-cidrs",
            "configure-cloud-routes",
            "enable-garbage-collector",
            "enable-dynamic-provisioning",
            "enable-hostpath-provisioner",
        }
    ),
    "scheduler": frozenset({"profiling", "contention-profiling", "leader-elect"}),
    "etcd": frozenset(
        {
            "client-cert-auth",
            "peer-client-cert-auth",
            "auto-tls",
            "peer-auto-tls",
            "enable-pprof",
            "debug",
            "strict-reconfig-check",
            "force-new-cluster",
            "enable-v2",
            "experimental-initial-corrupt-check",
            "socket-reuse-port",
            "socket-reuse-address",
            "enable-grpc-gateway",
        }
    ),
    "kubelet": frozenset(
        {
            "anonymous-auth",
            "authentication-token-webhook",
            "rotate-certificates",
            "rotate-server-certificates",
            "make-iptables-util-chains",
            "protect-kernel-defaults",
            "seccomp-default",
            "fail-swap-on",
            "serialize-image-pulls",
            "register-node",
            "cgroups-per-qos",
            "enable-server",
            "enable-debugging-handlers",
            "enable-load-reader",
            "exit-on-lock-contention",
            "kernel-memcg-notification",
            "localstorage-capacity-isolation",
            "register-schedulable",
            "cpu-cfs-quota",
            "enable-controller-attach-detach",
        }
    ),
    "proxy": frozenset(
        {"profiling", "masquerade-all", "cleanup", "bind-address-hard-fail", "init-only"}
    ),
}
# Settings holding durations, normalised to Go's canonical spelling.
DURATION_SETTINGS = frozenset({"streaming-connection-idle-timeout", "request-timeout"})


# -- command lines ----------------------------------------------------------------------------


def parse_flags(argv: list[str], booleans: frozenset[str] = frozenset()) -> dict[str, str]:
    """Flags of a command line without their dashes: ``--name=value`` and ``--name value``
    (and Go's ``-name``); a bare boolean flag is ``"true"``; the last repetition wins.
    A bare flag followed by another ``--flag`` is taken as a boolean too."""
    flags: dict[str, str] = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if eq:
            flags[name] = value
        elif name in booleans or i >= len(argv) or argv[i].startswith("--"):
            flags[name] = "true"
        else:
            flags[name] = argv[i]
            i += 1
    return flags


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_feature_gates(value: str | None) -> dict[str, bool | str]:
    gates: dict[str, bool | str] = {}
    for item in split_list(value):
        name, _, setting = item.partition("=")
        parsed = go_bool(setting)
        gates[name.strip()] = parsed == "true" if parsed in ("true", "false") else setting
    return gates


def go_bool(value: str) -> str:
    """Go's strconv.ParseBool spellings -> "true"/"false"; anything else unchanged."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return "true"
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return "false"
    return value


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def go_duration(value: str) -> str:
    """A Go duration in its canonical spelling ("5m" -> "5m0s", "0" -> "0s"); unparsable
    text is returned unchanged."""
    text = value.strip()
    if text in ("0", "+0", "-0"):
        return "0s"
    match = re.fullmatch(r"([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+", text)
    if not match:
        return value
    seconds = sum(
        float(n) * _DURATION_UNITS[u]
        for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
    )
    sign = "-" if match.group(1) == "-" and seconds else ""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        for unit, scale in (("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
            if seconds >= scale:
                return f"{sign}{_number(seconds / scale)}{unit}"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{_number(secs)}s"
    if hours or minutes:
        out = f"{int(minutes)}m{out}"
    if hours:
        out = f"{int(hours)}h{out}"
    return sign + out


def _number(value: float) -> str:
    return f"{round(value, 9):.9f}".rstrip("0").rstrip(".")


def setting_text(value: Any) -> str | None:
    """A configuration file value spelled as on a command line."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(setting_text(v)) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={setting_text(v)}" for k, v in value.items())
    return str(value)


def dig(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# -- effective settings ---------------------------------------------------------------------


@dataclass
class Settings:
    """Effective settings keyed by flag name, and where each value came from
    (``flag``, ``config``, ``env`` or ``default``)."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def layer(self, values: Mapping[str, str | None], source: str) -> None:
        """Put ``values`` over what is there (None leaves a setting as it was)."""
        for key, value in values.items():
            if value is not None:
                self.values[key] = value
                self.sources[key] = source


def apiserver_settings(
    flags: dict[str, str], authz: dict[str, Any] | None, authn: dict[str, Any] | None
) -> Settings:
    """Flags over defaults; the structured authorization and authentication files stand in
    for the flags they replace."""
    settings = Settings()
    settings.layer(APISERVER_DEFAULTS, "default")
    if authz is not None and "authorization-mode" not in flags:
        modes = [str(a.get("type")) for a in authz.get("authorizers") or [] if isinstance(a, dict)]
        settings.layer({"authorization-mode": ",".join(modes)}, "config")
    anonymous = dig(authn, "anonymous.enabled") if authn is not None else None
    if anonymous is not None and "anonymous-auth" not in flags:
        settings.layer({"anonymous-auth": setting_text(anonymous)}, "config")
    settings.layer(flags, "flag")
    return settings


def kubelet_settings(flags: dict[str, str], config: dict[str, Any] | None) -> Settings:
    """Flags over the merged configuration file over the defaults of its mode."""
    settings = Settings()
    defaults = dict(KUBELET_DEFAULTS)
    if config is None:  # no --config: the legacy command-line defaults
        defaults.update(KUBELET_LEGACY_DEFAULTS)
    settings.layer(defaults, "default")
    if config is not None:
        settings.layer(
            {flag: setting_text(dig(config, key)) for flag, key in KUBELET_CONFIG_KEYS.items()},
            "config",
        )
    settings.layer(flags, "flag")
    return settings


def etcd_settings(
    flags: dict[str, str], env: dict[str, str], config: dict[str, Any] | None
) -> Settings:
    """The configuration file alone when there is one; else flags over ETCD_* variables;
    then the defaults (data-dir from the effective name)."""
    settings = Settings()
    settings.layer(ETCD_DEFAULTS, "default")
    if config is not None:  # flags and ETCD_* variables are ignored
        settings.layer(etcd_config_settings(config), "config")
    else:
        from_env = {
            name[5:].lower().replace("_", "-"): value
            for name, value in env.items()
            if name.startswith("ETCD_")
        }
        settings.layer(from_env, "env")
        settings.layer(flags, "flag")
    if "data-dir" not in settings.values:
        settings.layer({"data-dir": f"{settings.values.get('name') or 'default'}.etcd"}, "default")
    return settings


def etcd_config_settings(config: dict[str, Any]) -> dict[str, str | None]:
    """An etcd configuration file's values under their flag names."""
    values: dict[str, str | None] = {}
    for key, value in config.items():
        if key in ETCD_TLS_SECTIONS and isinstance(value, dict):
            for tls_key in ETCD_TLS_KEYS:
                if tls_key in value:
                    values[ETCD_TLS_SECTIONS[key] + tls_key] = setting_text(value[tls_key])
        elif not isinstance(value, dict):
            values[str(key)] = setting_text(value)
    return values


def proxy_settings(
    flags: dict[str, str], config: dict[str, Any] | None
) -> tuple[Settings, list[str]]:
    """kube-proxy's settings, and the flags it ignores because a --config file is given."""
    settings = Settings()
    settings.layer(PROXY_DEFAULTS, "default")
    ignored: list[str] = []
    if config is not None:  # flags other than --hostname-override are ignored
        settings.layer(
            {flag: setting_text(dig(config, key)) for flag, key in PROXY_CONFIG_KEYS.items()},
            "config",
        )
        kept = {k: v for k, v in flags.items() if k in ("config", "hostname-override")}
        ignored = sorted(set(flags) - set(kept))
        settings.layer(kept, "flag")
    else:
        settings.layer(flags, "flag")
    return settings, ignored


# kube-scheduler's flags that only apply without --config ("ignored if a config file is
# specified in --config"), and the fields of its KubeSchedulerConfiguration that replace them.
SCHEDULER_CONFIG_KEYS = {
    "profiling": "enableProfiling",
    "contention-profiling": "enableContentionProfiling",
    "kubeconfig": "clientConnection.kubeconfig",
    "leader-elect": "leaderElection.leaderElect",
}
# Fields of the configuration file that default when absent (KubeSchedulerConfiguration v1).
SCHEDULER_CONFIG_DEFAULTS = {"profiling": "true", "leader-elect": "true"}


def scheduler_settings(
    flags: dict[str, str], config: dict[str, Any] | None
) -> tuple[Settings, list[str]]:
    """kube-scheduler's settings, and the flags it ignores because --config is given: with
    a configuration file, profiling, kubeconfig and leader election come from the file
    (enableProfiling defaults to true there too); serving flags such as --bind-address
    still apply."""
    settings = Settings()
    settings.layer(SCHEDULER_DEFAULTS, "default")
    if config is None:
        settings.layer(flags, "flag")
        return settings, []
    settings.layer(SCHEDULER_CONFIG_DEFAULTS, "default")
    settings.layer(
        {flag: setting_text(dig(config, key)) for flag, key in SCHEDULER_CONFIG_KEYS.items()},
        "config",
    )
    ignored = sorted(k for k in flags if k in SCHEDULER_CONFIG_KEYS)
    settings.layer({k: v for k, v in flags.items() if k not in SCHEDULER_CONFIG_KEYS}, "flag")
    return settings, ignored


def simple_settings(defaults: Mapping[str, str], flags: dict[str, str]) -> Settings:
    """Flags over defaults (kube-controller-manager, kube-scheduler)."""
    settings = Settings()
    settings.layer(defaults, "default")
    settings.layer(flags, "flag")
    return settings


def normalise(component: str, settings: Settings) -> None:
    """Booleans and durations in one spelling, so that a control compares text."""
    booleans = BOOLEAN_FLAGS.get(component, frozenset())
    for key, value in settings.values.items():
        if key in booleans:
            settings.values[key] = go_bool(value)
        elif key in DURATION_SETTINGS:
            settings.values[key] = go_duration(value)


def feature_gates(component: str, settings: Settings) -> dict[str, bool | str]:
    """Effective feature gates: the known defaults, then ``--feature-gates``."""
    gates: dict[str, bool | str] = dict(FEATURE_GATE_DEFAULTS.get(component, {}))
    gates.update(parse_feature_gates(settings.values.get("feature-gates")))
    return gates


def effective_admission_plugins(settings: Settings) -> list[str]:
    """The API server's admission plugins: the default-on set, plus enabled, minus disabled."""
    enabled = set(APISERVER_DEFAULT_ADMISSION)
    enabled |= set(split_list(settings.values.get("enable-admission-plugins")))
    enabled -= set(split_list(settings.values.get("disable-admission-plugins")))
    return sorted(enabled)
