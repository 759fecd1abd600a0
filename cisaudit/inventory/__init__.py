"""Inventories: the targets to audit and how to reach them.

Three formats load into one list of :class:`~cisaudit.targets.Target`:

* native cisaudit YAML (``defaults``, ``hosts``, ``groups``, ``clusters``);
* Ansible YAML (``all: {hosts:, children:, vars:}``);
* Ansible INI (``[group]``, ``[group:vars]``, ``[group:children]``).

Each parser turns its file into the same draft: hosts and groups with the settings
written on them, every value remembering its line. One resolver then checks the
references, applies inheritance and builds the targets, so the rules (and the error
messages) are the same whatever the format. ``docs/inventory.md`` is the user's guide.

Values are data, never shell: they are kept verbatim and the transport quotes them.
Secrets are never kept: only the names of the environment variables that hold them.
"""

from __future__ import annotations

import os
from pathlib import Path

from cisaudit import yamlsrc
from cisaudit.inventory.ansible import (
    _parse_ansible_yaml,
    _parse_ini,
)
from cisaudit.inventory.draft import (
    ANSIBLE_INI,
    ANSIBLE_YAML,
    NATIVE,
    Inventory,
    InventoryError,
    _Ctx,
)
from cisaudit.inventory.native import (
    _parse_native,
)
from cisaudit.inventory.resolve import (
    _resolve,
)
from cisaudit.inventory.values import (
    _is_ansible_yaml,
    _load_yaml,
    _looks_like_ini,
    _read,
    _reject_passwords,
)
from cisaudit.yamlsrc import LineDict

__all__ = ["Inventory", "InventoryError", "load_inventory"]


def load_inventory(path: str | os.PathLike[str], *, check_files: bool = True) -> Inventory:
    """Load a native, Ansible YAML or Ansible INI inventory file.

    The format is chosen by extension (``.ini``/``.cfg`` are INI, ``.yml``/``.yaml``/
    ``.json`` are YAML) or, without one, by the first meaningful line; a YAML file is
    Ansible's when it has ``all:`` or a top-level group with ``hosts``/``children``/
    ``vars``. Every problem raises :class:`InventoryError` naming the file and line.

    ``check_files``: SSH private keys named in the inventory must exist and be readable
    by their owner only (OpenSSH refuses others too); off when the inventory is only
    being read, not used to connect (on another machine than the keys, say).
    """
    name = str(path)
    text = _read(name)
    if _looks_like_ini(Path(name), text):
        draft = _parse_ini(_Ctx(name, ANSIBLE_INI, text.splitlines(), check_files), text)
    else:
        doc = _load_yaml(text, name)
        if doc is None:
            raise InventoryError(name, None, "the inventory is empty: it defines no targets")
        if not isinstance(doc, LineDict):
            raise InventoryError(
                name,
                yamlsrc.line_of(doc) or 1,
                "an inventory must be a mapping (hosts:, groups:, ... or Ansible's all:)",
            )
        fmt = ANSIBLE_YAML if _is_ansible_yaml(doc) else NATIVE
        ctx = _Ctx(name, fmt, text.splitlines(), check_files)
        _reject_passwords(ctx, doc)
        draft = _parse_ansible_yaml(ctx, doc) if fmt == ANSIBLE_YAML else _parse_native(ctx, doc)
    return _resolve(draft)
