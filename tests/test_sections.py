"""The probe framing's parser: sections cut out between nonce-tagged boundary lines."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cisaudit.transport.sections import parse_sections

NONCE = "N0NCE42"
SCRIPT = "sec version docker version --format '{{json .}}'\nsec info docker info\nsec empty true\n"


def _by_lines(text: str) -> dict[str, tuple[str, str, int]]:
    """What the framing means, read the slow way: line by line."""
    found: dict[str, tuple[str, str, int]] = {}
    name, part, out, err = None, "out", [], []
    for line in text.split("\n"):
        if line.startswith(NONCE + " "):
            tag, *rest = line.split(" ")[1:]
            if tag == "BEGIN" and rest:
                name, part, out, err = rest[0], "out", [], []
            elif tag == "STDERR":
                part = "err"
            elif tag == "END" and name is not None:
                rc = int(rest[1]) if len(rest) > 1 and rest[1].lstrip("-").isdigit() else -1
                found[name] = ("\n".join(out), "\n".join(err), rc)
                name = None
            continue
        if name is not None:
            (out if part == "out" else err).append(line)
    return found


def _framed(name: str, out: str, err: str | None, rc: str) -> str:
    text = f"{NONCE} BEGIN {name}\n{out}\n"
    if err is not None:
        text += f"{NONCE} STDERR {name}\n{err}\n"
    return text + f"{NONCE} END {name} {rc}\n"


def test_sections_commands_and_exit_codes() -> None:
    text = (
        "motd noise\n"
        + _framed("version", '{"Version":"27.1"}', "", "0")
        + _framed("info", "line 1\nline 2\n", "warning: x", "1")
        + _framed("empty", "", None, "-2")
        + _framed("odd", "x", "", "oops")
    )
    sections = parse_sections(text, NONCE, SCRIPT)
    assert sections["version"].output == '{"Version":"27.1"}'
    assert sections["version"].command == "docker version --format '{{json .}}'"
    assert (sections["info"].output, sections["info"].stderr) == ("line 1\nline 2\n", "warning: x")
    assert (sections["info"].rc, sections["empty"].rc, sections["odd"].rc) == (1, -2, -1)
    assert sections["empty"].output == "" and sections["empty"].command == "true"
    assert sections["odd"].command == "odd"  # not in the script: named by itself


def test_a_section_cut_off_is_dropped_and_the_next_one_kept() -> None:
    text = f"{NONCE} BEGIN lost\npartial\n" + _framed("info", "ok", "", "0")
    assert set(parse_sections(text, NONCE, SCRIPT)) == {"info"}


_line = st.text(alphabet=st.sampled_from("ab \t\r{}N0" + NONCE[:3]), max_size=12)
_section = st.tuples(
    st.sampled_from(["version", "info", "empty", "x"]),
    st.lists(_line, max_size=4).map("\n".join),
    st.none() | st.lists(_line, max_size=3).map("\n".join),
    st.sampled_from(["0", "1", "-1", "127", "", "z"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(_section, _line), max_size=8),
    st.booleans(),
)
def test_the_same_as_reading_line_by_line(parts: list[object], trailing_newline: bool) -> None:
    text = "".join(
        _framed(*part) if isinstance(part, tuple) else part + "\n"  # type: ignore[arg-type]
        for part in parts
    )
    if not trailing_newline:
        text = text.removesuffix("\n")
    got = parse_sections(text, NONCE, SCRIPT)
    assert {k: (v.output, v.stderr, v.rc) for k, v in got.items()} == _by_lines(text)
