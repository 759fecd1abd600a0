"""The draft every inventory format is parsed into: hosts and groups with the settings
written on them, each remembering its line; and the loaded Inventory."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from cisaudit.targets import Target
from cisaudit.yamlsrc import SourceError

NATIVE, ANSIBLE_YAML, ANSIBLE_INI = "native", "ansible-yaml", "ansible-ini"


class InventoryError(SourceError):
    """A problem in an inventory file, or a limit that matches nothing."""


@dataclass
class Inventory:
    """The loaded inventory: targets in file order and groups of target names."""

    path: str
    format: str  # NATIVE, ANSIBLE_YAML or ANSIBLE_INI
    targets: list[Target]
    groups: dict[str, list[str]]  # children flattened; "all" holds every target

    def select(self, limit: Sequence[str] | None = None) -> list[Target]:
        """Targets named by ``limit``, in inventory order.

        Each item is a target name, a group name or a glob (``web-*``) over both;
        items may also be comma-separated, and ``!pattern`` excludes. ``None`` or an
        empty list selects everything. A pattern that matches nothing is an error,
        because a typo in a limit must not shrink an audit silently.
        """
        patterns = [p.strip() for item in limit or () for p in item.split(",") if p.strip()]
        chosen: set[str] = set()
        dropped: set[str] = set()
        for pattern in patterns:
            exclude = pattern.startswith("!")
            names = self._match(pattern[1:] if exclude else pattern)
            (dropped if exclude else chosen).update(names)
        if not any(not p.startswith("!") for p in patterns):
            chosen = {t.name for t in self.targets}
        return [t for t in self.targets if t.name in chosen and t.name not in dropped]

    def _match(self, pattern: str) -> set[str]:
        if pattern in self.groups:
            return set(self.groups[pattern])
        known = [t.name for t in self.targets]
        if pattern in known:
            return {pattern}
        found: set[str] = set()
        if any(c in pattern for c in "*?["):
            found.update(n for n in known if fnmatch.fnmatchcase(n, pattern))
            for group, members in self.groups.items():
                if fnmatch.fnmatchcase(group, pattern):
                    found.update(members)
        if found:
            return found
        everything = known + [g for g in self.groups if g not in known]
        shown = ", ".join(everything[:40])
        if len(everything) > 40:
            shown += f", ... ({len(everything) - 40} more)"
        raise InventoryError(
            self.path,
            None,
            f"limit {pattern!r} matches no target or group{_did_you_mean(pattern, everything)};"
            f" known targets and groups: {shown}",
        )


@dataclass(frozen=True)
class _Ctx:
    path: str
    fmt: str
    lines: list[str]
    check_files: bool = True

    @property
    def lenient(self) -> bool:
        """Ansible files hold strings ("22", "yes") where native YAML holds types."""
        return self.fmt != NATIVE

    def fail(self, line: int | None, message: str) -> NoReturn:
        raise InventoryError(self.path, line, message)


@dataclass(frozen=True)
class _Val:
    """One setting as written: its value (already checked), where, and under what name."""

    value: Any
    line: int
    label: str
    strict: bool = False  # written on the host itself: must apply to the host's kind


@dataclass
class _Node:
    name: str
    line: int
    settings: dict[str, _Val] = field(default_factory=dict)
    free: dict[str, _Val] = field(default_factory=dict)  # user variables -> Target.vars


@dataclass
class _Group(_Node):
    hosts: list[tuple[str, int]] = field(default_factory=list)
    children: list[tuple[str, int]] = field(default_factory=list)
    priority: int = 1  # ansible_group_priority: breaks ties between groups of one depth


Settings = dict[str, _Val]


@dataclass
class _Draft:
    ctx: _Ctx
    hosts: dict[str, _Node] = field(default_factory=dict)
    groups: dict[str, _Group] = field(default_factory=dict)

    def host(self, name: str, line: int, settings: Settings, free: Settings) -> _Node:
        """Define a host, or add to its definition: a key given twice must agree."""
        node = self.hosts.get(name)
        if node is None:
            node = self.hosts[name] = _Node(name, line)
        node.line = min(node.line, line)
        self.add_vars(node, "host", settings, free)
        return node

    def group(self, name: str, line: int) -> _Group:
        grp = self.groups.get(name)
        if grp is None:
            grp = self.groups[name] = _Group(name, line)
        return grp

    def add_vars(self, node: _Node, what: str, settings: Settings, free: Settings) -> None:
        for mine, new in ((node.settings, settings), (node.free, free)):
            for key, val in new.items():
                old = mine.get(key)
                if old is not None and old.value != val.value:
                    self.ctx.fail(
                        val.line,
                        f"{what} {node.name!r} is defined again with {val.label} = "
                        f"{_show(val.value)} but line {old.line} gives {old.label} = "
                        f"{_show(old.value)}; give each value once",
                    )
                mine.setdefault(key, val)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
