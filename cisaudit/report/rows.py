"""One flat row per target x control: the shape shared by CSV, JUnit and SARIF."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cisaudit.model import ControlInfo, Result, Run, TargetResult
from cisaudit.report.context import format_value
from cisaudit.report.i18n import localise


@dataclass(frozen=True)
class Row:
    target: TargetResult
    result: Result
    control: ControlInfo | None

    @property
    def key(self) -> str:
        return self.target.control_key(self.result)

    def title(self, lang: str) -> str:
        return localise(self.control.title, lang) if self.control else self.result.control_id

    def text(self, field: str, lang: str) -> str:
        texts = getattr(self.control, field, None) if self.control else None
        return localise(texts, lang)

    @property
    def section(self) -> str:
        return self.control.section if self.control else self.result.control_id.split(".")[0]

    @property
    def offenders(self) -> list[str]:
        return [
            f"{o.kind}:{o.name}"
            + (f"={format_value(o.observed)}" if o.observed is not None else "")
            for o in self.result.offenders
        ]

    @property
    def remediation(self) -> str:
        return self.result.remediation or (self.control.snippet if self.control else "")


def rows(run: Run) -> Iterator[Row]:
    """Every verdict of the run in inventory order, with its catalog entry when known."""
    for target in run.targets:
        for result in target.results:
            yield Row(target, result, run.controls.get(target.control_key(result)))
