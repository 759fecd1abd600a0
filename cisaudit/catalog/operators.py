"""The closed set of test operators a control may use.

Each operator is a tiny pure function ``(observed, expected) -> bool``. Controls name
operators by key; an unknown key is a load error, so a typo can never become a check
that silently passes. Permission modes compare as bits, never as numbers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import re2

Operator = Callable[[Any, Any], bool]

# Values longer than this are judged on their first MAX_SUBJECT characters: a regex
# never scans megabytes of one hostile value.
MAX_SUBJECT = 1 << 20


class PatternError(ValueError):
    """A control's regular expression that cannot be used (the message says why)."""


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # errors are reported by the catalog loader, with the file
    options.max_mem = 8 << 20
    return options


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Any:
    """A control's regex, compiled with RE2: matching takes time linear in the input, so
    no value can make an evaluation hang (no catastrophic backtracking). RE2 has no
    look-around or back-references; such a pattern is refused when the catalog loads."""
    try:
        return re2.compile(pattern, options=_re2_options())
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternError(
            f"regular expression {pattern!r} cannot be used: {detail} (patterns are RE2: no "
            "look-around or back-references, so that matching time stays linear)"
        ) from None


def _search(pattern: Any, observed: Any) -> bool:
    return compile_pattern(str(pattern)).search(str(observed)[:MAX_SUBJECT]) is not None


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def parse_mode(value: Any) -> int:
    """A permission mode given as int or octal text ("0644", "644") -> int bits."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"0?[0-7]{3,4}", text):
        raise ValueError(f"not an octal permission mode: {value!r}")
    return int(text, 8)


def _mode_at_most(observed: Any, allowed: Any) -> bool:
    # Stricter-or-equal means: no permission bit set that the allowed mode lacks.
    # setuid/setgid/sticky (0o7000) count as bits too.
    if observed is None:
        return False
    return (parse_mode(observed) & 0o7777 & ~parse_mode(allowed)) == 0


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(fn: Callable[[float, float], bool]) -> Operator:
    def op(observed: Any, expected: Any) -> bool:
        a, b = _as_number(observed), _as_number(expected)
        return a is not None and b is not None and fn(a, b)

    return op


def _contains(observed: Any, expected: Any) -> bool:
    if observed is None:
        return False
    if isinstance(observed, str):
        return str(expected) in observed
    return expected in observed


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set) else [value]


OPERATORS: dict[str, Operator] = {
    "equals": lambda o, e: o == e,
    "not_equals": lambda o, e: o != e,
    "in": lambda o, e: o in _as_list(e),
    "not_in": lambda o, e: o not in _as_list(e),
    "is_true": lambda o, _e: o is True,
    "is_false": lambda o, _e: o is False,
    "is_not_true": lambda o, _e: o is not True,
    "is_set": lambda o, _e: not _is_empty(o),
    "is_unset": lambda o, _e: _is_empty(o),
    "contains": _contains,
    "not_contains": lambda o, e: not _contains(o, e),
    "matches": lambda o, e: o is not None and _search(e, o),
    "not_matches": lambda o, e: o is None or not _search(e, o),
    "lt": _compare(lambda a, b: a < b),
    "lte": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "gte": _compare(lambda a, b: a >= b),
    "subset_of": lambda o, e: set(_as_list(o)) <= set(_as_list(e)),
    "disjoint_from": lambda o, e: not (set(_as_list(o)) & set(_as_list(e))),
    "mode_at_most": _mode_at_most,
}

# Operators that take no expected value.
UNARY = frozenset({"is_true", "is_false", "is_not_true", "is_set", "is_unset"})

# Human wording of each operator, for "expected" in results and reports.
WORDING: dict[str, str] = {
    "equals": "= {v}",
    "not_equals": "≠ {v}",
    "in": "one of {v}",
    "not_in": "none of {v}",
    "is_true": "true",
    "is_false": "false",
    "is_not_true": "not true",
    "is_set": "set",
    "is_unset": "unset",
    "contains": "contains {v}",
    "not_contains": "does not contain {v}",
    "matches": "matches /{v}/",
    "not_matches": "does not match /{v}/",
    "lt": "< {v}",
    "lte": "≤ {v}",
    "gt": "> {v}",
    "gte": "≥ {v}",
    "subset_of": "only {v}",
    "disjoint_from": "none of {v}",
    "mode_at_most": "mode {v} or stricter",
}


def describe(op: str, value: Any) -> str:
    return WORDING[op].format(v=value)
