"""Ticket severities: the four canonical wire values and the aliases people type."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """A ticket's severity; the value is the stable wire form."""

    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"

    @property
    def rank(self) -> int:
        """1 for the most severe."""
        return int(self.value[3:])

    @property
    def label(self) -> str:
        return f"Sev-{self.rank}"

    @classmethod
    def parse(cls, text: str, aliases: dict[str, "Severity"] | None = None) -> "Severity":
        """Read a severity or one of its aliases; raise ValueError naming the choices."""
        key = text.strip().lower().replace("-", "").replace(" ", "")
        table = dict(BUILTIN_ALIASES if aliases is None else aliases)
        table.update({s.value: s for s in cls})
        table.update({f"severity{s.rank}": s for s in cls})
        if key in table:
            return table[key]
        choices = ", ".join(s.value for s in cls)
        names = ", ".join(sorted(a for a in table if not a.startswith(("sev", "severity"))))
        raise ValueError(f"unknown severity {text!r}: use {choices} (or {names})")


BUILTIN_ALIASES: dict[str, Severity] = {
    "critical": Severity.SEV1,
    "high": Severity.SEV2,
    "major": Severity.SEV2,
    "medium": Severity.SEV3,
    "minor": Severity.SEV3,
    "low": Severity.SEV4,
}
