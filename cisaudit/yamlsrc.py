"""YAML loading that remembers where every value came from, within limits.

Inventory and control files are written by people; when one is wrong the error must
name the file and the line. This loader returns ordinary dicts and lists (subclassed
so they carry their source line) and rejects duplicate keys, which plain PyYAML
silently lets the last one win.

Every YAML document cisaudit reads (inventories, controls, waivers, policies, offline
cluster dumps, files collected from hosts) is first checked against :class:`Limits`:
its size, its nesting depth, its number of aliases and the number of values it stands
for once aliases are expanded. A "billion laughs" document is refused in milliseconds
instead of hanging whatever walks it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# libyaml's event parser when present (much faster); the pure-Python one otherwise.
_EVENT_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Limits:
    """How big a YAML document may be before it is refused."""

    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 64
    max_aliases: int = 512
    max_values: int = 2_000_000  # scalars and collections, aliases expanded


DEFAULT_LIMITS = Limits()
# Offline cluster dumps: one file may hold every object of a large cluster.
DUMP_LIMITS = Limits(max_bytes=512 * 1024 * 1024, max_depth=128, max_values=50_000_000)


class LimitExceeded(yaml.YAMLError):
    """A document over one of the limits; ``line`` is where it was noticed (1-based)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def check_limits(text: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise :class:`LimitExceeded` when ``text`` is over a limit (syntax errors are left
    to the loader, which reports them with their line)."""
    size = (
        len(text.encode("utf-8", "surrogatepass"))
        if len(text) * 4 > limits.max_bytes
        else len(text)
    )
    if size > limits.max_bytes:
        raise LimitExceeded(
            f"the document is {size:,} bytes; the limit is {limits.max_bytes:,}", None
        )
    anchors: dict[str, int] = {}
    stack: list[list[Any]] = []  # [values inside, anchor] per open collection
    aliases = 0
    values = 0  # every value met so far, each alias counted as all it stands for
    try:
        for event in yaml.parse(text, Loader=_EVENT_LOADER):
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= limits.max_depth:
                    raise LimitExceeded(f"nesting deeper than {limits.max_depth} levels", line)
                stack.append([1, event.anchor])
                values += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                weight, anchor = stack.pop()
                if anchor is not None:
                    anchors[str(anchor)] = weight
                if stack:
                    stack[-1][0] += weight
            elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
                if isinstance(event, yaml.AliasEvent):
                    aliases += 1
                    if aliases > limits.max_aliases:
                        raise LimitExceeded(f"more than {limits.max_aliases} aliases (*name)", line)
                    weight = anchors.get(str(event.anchor), 1)
                else:
                    weight = 1
                    if event.anchor is not None:
                        anchors[str(event.anchor)] = 1
                values += weight
                if stack:
                    stack[-1][0] += weight
            if values > limits.max_values:
                raise LimitExceeded(
                    f"stands for more than {limits.max_values:,} values once its aliases are "
                    "followed (an alias bomb?)",
                    line,
                )
    except RecursionError:
        raise LimitExceeded(f"nesting deeper than {limits.max_depth} levels", None) from None


class SourceError(ValueError):
    """A problem in a user-written file, located by file and line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class LineDict(dict[Any, Any]):
    """A mapping that knows the line it starts on and the line of each key."""

    line: int = 0
    key_lines: dict[Any, int]
    source: str = ""  # the file it came from, where a caller needs to name it later

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    line: int = 0


class _Loader(_EVENT_LOADER):
    """libyaml's scanner and parser (C) when present, with our constructors: line-aware
    mappings and lists, duplicate keys refused. About ten times faster than pure Python."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise SourceError(
                loader.name, key_node.start_mark.line + 1, "a mapping key must be a plain value"
            ) from None
        if key in result:
            raise SourceError(
                loader.name,
                key_node.start_mark.line + 1,
                f"duplicate key {key!r} (first given on line {result.key_lines[key]})",
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    return result


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A date or time; one that does not exist (2027-02-30) is an error with its line."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise SourceError(
            loader.name, node.start_mark.line + 1, f"not a valid date: {node.value!r} ({exc})"
        ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_text(text: str, name: str = "<string>", limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse YAML text; syntax errors and documents over ``limits`` become SourceError
    with the line."""
    loader = _Loader(text)
    loader.name = name
    try:
        check_limits(text, limits)
        return loader.get_single_data()
    except SourceError:
        raise
    except LimitExceeded as exc:
        raise SourceError(name, exc.line, f"refused: {exc.message}") from None
    except RecursionError:
        raise SourceError(name, None, "refused: nesting too deep") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SourceError(name, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SourceError(name, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def safe_load_all(text: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[Any]:
    """Plain documents (no line numbers) of a multi-document stream, within ``limits``;
    raises ``yaml.YAMLError`` (:class:`LimitExceeded` over a limit)."""
    check_limits(text, limits)
    try:
        yield from yaml.load_all(text, Loader=_EVENT_LOADER)
    except RecursionError:
        raise LimitExceeded("nesting too deep", None) from None


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file, naming it in every error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise SourceError(path, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise SourceError(path, None, exc.strerror or str(exc)) from None
    return load_text(text, str(path))


def line_of(value: Any, key: Any = None) -> int | None:
    """Best-known source line of a loaded value (or of one of its keys)."""
    if isinstance(value, LineDict):
        return value.line_of(key) if key is not None else value.line
    if isinstance(value, LineList):
        return value.line
    return None
