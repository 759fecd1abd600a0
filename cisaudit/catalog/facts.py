"""The facts contract: which facts checks may name, and the raw evidence behind each.

Each kind of target declares its own contract (``cisaudit/kinds/<kind>/facts.py``); the
catalog validates checks against the union the caller hands it, without knowing any kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Subject:
    """A collection a check may iterate with ``each``: how its items are named and
    identified in results (the first of ``id`` that an item has)."""

    name: str = "cis.name"
    id: tuple[str, ...] = ("cis.id",)


@dataclass(frozen=True)
class FactsContract:
    """Top-level facts (name -> what it holds, evidence sections it is derived from; a
    section ``x.*`` stands for every section whose name starts with ``x.``), and the
    collections that ``each`` may iterate (exact names, or any name under a prefix)."""

    facts: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    subjects: dict[str, Subject] = field(default_factory=dict)
    subject_prefixes: dict[str, Subject] = field(default_factory=dict)

    def subject(self, collection: str) -> Subject | None:
        if collection in self.subjects:
            return self.subjects[collection]
        for prefix, subject in self.subject_prefixes.items():
            if collection.startswith(prefix):
                return subject
        return None

    def sections_of(self, facts: Iterable[str]) -> list[str]:
        """The evidence sections behind these facts (their top-level names)."""
        found: list[str] = []
        for name in facts:
            found.extend(self.facts.get(name.split(".")[0], ("", ()))[1])
        return list(dict.fromkeys(found))

    @staticmethod
    def merge(*contracts: FactsContract) -> FactsContract:
        facts: dict[str, tuple[str, tuple[str, ...]]] = {}
        subjects: dict[str, Subject] = {}
        prefixes: dict[str, Subject] = {}
        for contract in contracts:
            for name, entry in contract.facts.items():
                if name in facts and facts[name] != entry:
                    raise ValueError(f"two kinds declare the fact {name!r} differently")
                facts[name] = entry
            subjects.update(contract.subjects)
            prefixes.update(contract.subject_prefixes)
        return FactsContract(facts, subjects, prefixes)
