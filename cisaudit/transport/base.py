"""What every transport is: run one shell script on a target, return its output.

The script goes over stdin to ``sh -s`` (through ``sudo -n`` when the target asks for
become), so no inventory value is ever spliced into a command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cisaudit.targets import Target


class TransportError(Exception):
    """The target could not be reached or the command could not run; message says why."""


@dataclass
class Completed:
    stdout: str
    stderr: str
    rc: int


class Transport(Protocol):
    calls: int

    def run(self, script: str, *, timeout: float) -> Completed: ...

    def close(self) -> None: ...


def shell_command(target: Target) -> str:
    if target.become and target.user not in (None, "root"):
        if target.become_method != "sudo":
            raise TransportError(
                f"become method {target.become_method!r} is not supported (use sudo)"
            )
        # -n: never prompt; a missing sudo right must fail fast, not hang.
        return "sudo -n -- sh -s" if not target.become_password_env else "sudo -S -p '' -- sh -s"
    return "sh -s"
