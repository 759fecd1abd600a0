"""Transports: how a probe reaches a target (SSH, or this machine) and the framing of
its output. ``base`` holds what every transport shares."""

from cisaudit.transport.base import Completed, Transport, TransportError, shell_command

__all__ = ["Completed", "Transport", "TransportError", "shell_command"]
