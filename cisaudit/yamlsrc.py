"""YAML loading that remembers where every value came from.

Inventory and control files are written by people; when one is wrong the error must
name the file and the line. This loader returns ordinary dicts and lists (subclassed
so they carry their source line) and rejects duplicate keys, which plain PyYAML
silently lets the last one win.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class SourceError(ValueError):
    """A problem in a user-written file, located by file and line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that knows the line it starts on and the line of each key."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):  # type: ignore[type-arg]
    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_text(text: str, name: str = "<string>") -> Any:
    """Parse YAML text; syntax errors become SourceError with the line."""
    loader = _Loader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    except SourceError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SourceError(name, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SourceError(name, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


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
