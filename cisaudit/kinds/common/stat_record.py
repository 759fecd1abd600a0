"""One shape for a file's stat on every kind of host (``docs/facts.md``, ``files.<name>``)."""

from __future__ import annotations

import stat as pystat
from typing import Any

_KINDS = {
    pystat.S_IFREG: "file",
    pystat.S_IFDIR: "directory",
    pystat.S_IFSOCK: "socket",
    pystat.S_IFLNK: "symlink",
    pystat.S_IFCHR: "char-device",
    pystat.S_IFBLK: "block-device",
    pystat.S_IFIFO: "fifo",
}


def stat_record(path: str, fields: list[str], real: str | None = None) -> dict[str, Any]:
    """``fields`` = stat's ``%f %u %g %U %G`` (raw mode in hex, uid, gid, user, group)."""
    raw_mode = int(fields[0], 16)
    mode = pystat.S_IMODE(raw_mode)  # permission bits, setuid/setgid/sticky included
    return {
        "path": path,
        "real_path": real or path,
        "exists": True,
        "type": _KINDS.get(pystat.S_IFMT(raw_mode), "other"),
        "mode": mode,
        "mode_octal": f"{mode:04o}",
        "uid": int(fields[1]),
        "gid": int(fields[2]),
        "user": fields[3],
        "group": fields[4],
        "error": None,
    }
