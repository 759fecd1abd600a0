"""cisaudit: agentless CIS benchmark audits of Docker hosts and Kubernetes clusters."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "audit"]


def __getattr__(name: str) -> object:  # lazy: importing cisaudit must not pull in the SSH library
    if name == "audit":
        from cisaudit.api import audit

        return audit
    raise AttributeError(name)
