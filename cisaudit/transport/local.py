"""Run the probe on this machine (kind ``local``, and tests)."""

from __future__ import annotations

import subprocess

from cisaudit.targets import Target
from cisaudit.transport.base import Completed, TransportError


class LocalTransport:
    """Runs the probe on this machine (kind ``local`` and tests)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.calls = 0

    def run(self, script: str, *, timeout: float) -> Completed:
        self.calls += 1
        try:
            proc = subprocess.run(
                ["sh", "-s"],
                input=script.encode(),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransportError(f"command timed out after {timeout:.0f}s") from None
        return Completed(
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            proc.returncode,
        )

    def close(self) -> None:
        pass
