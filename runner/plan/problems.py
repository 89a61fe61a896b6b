"""A plan's problems, structured: how bad, what is wrong, where it is caused (issue 12 §6).

A :class:`Problem` keeps its severity, its message (without a position), where it is caused in the
campaign file (file, line, column) and, when a data row is behind it, that second location
(``related``, as :class:`~runner.errors.Diagnostic` has it). Nothing here is parsed back: the plan's
text shows :attr:`Problem.text`, GitHub annotations (``runner.cli.annotations``) read the fields.

Also here: the problems the plan finds in its audience (invalid numbers, unreadable exclusions, opt-outs
stored in an old form), whose examples are ``(file, line, col, what)`` until they are written out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runner.audience.build import Audience
from runner.campaign.model import Position
from runner.errors import Diagnostic

#: a second location: (file, line, col, what is there); line and col 0 when unknown
Related = tuple[str, int, int, str]

MAX_NAMED = 5  # recipients or rows a problem names before "and N more"


def where(path: str, line: int = 0, col: int = 0) -> str:
    """``file:line:col``, the unknown parts left out."""
    out = path
    if line:
        out += f":{line}"
        if col:
            out += f":{col}"
    return out


def example_text(example: Related) -> str:
    """An audience example written out: ``list.csv:3: '0612'``."""
    path, line, col, what = example
    return f"{where(path, line, col)}: {what}"


def examples_text(examples: Iterable[Related]) -> str:
    return "; ".join(example_text(e) for e in examples)


@dataclass(frozen=True)
class Problem:
    severity: str  # error | warning | info
    message: str  # what is wrong, without a position
    path: str = ""  # where it is caused in the campaign file, when known
    line: int = 0
    col: int = 0
    related: tuple[Related, ...] = ()  # the data row behind it, when there is one
    cited: bool = False  # a campaign check's diagnostic: the plan's text names its position, as validate does

    @classmethod
    def at(cls, position: Position, severity: str, message: str) -> Problem:
        return cls(severity, message, position.path, position.line, position.col)

    @classmethod
    def from_diagnostic(cls, d: Diagnostic) -> Problem:
        return cls(d.severity, d.message, d.path, d.line, d.col, d.related, cited=True)

    @property
    def text(self) -> str:
        """The problem as the plan's text (and ``plan --json``'s ``message``) shows it."""
        if self.cited:
            return str(Diagnostic(self.path, self.line, self.col, self.message, self.severity, self.related))
        return self.message

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "message": self.text}
        if self.path:
            out.update(file=self.path, line=self.line, col=self.col)
        if self.related:
            out["related"] = [{"file": p, "line": n, "col": c, "note": w} for p, n, c, w in self.related]
        return out


def invalid_problems(audience: Audience, problems: list[Problem]) -> None:
    for group in sorted(audience.invalid.values(), key=lambda g: -g.count):
        more = group.count - len(group.examples)
        problems.append(Problem("warning", f"{group.count:,} invalid number(s), {group.reason}: "
                                           + examples_text(group.examples)
                                           + (f"; and {more:,} more" if more > 0 else "")))
    if audience.exclusion_invalid:
        problems.append(Problem("warning", f"{audience.exclusion_invalid:,} number(s) in exclusion lists are not "
                                           "mobile numbers and exclude nobody"))
    if audience.exclusion_unreadable:  # issue 15: a do-not-contact entry we cannot read fails the plan
        more = audience.exclusion_unreadable - len(audience.exclusion_examples)
        problems.append(Problem("error", f"{audience.exclusion_unreadable:,} exclusion(s) cannot be read as a phone "
                                         "number, so the people they name could be messaged: "
                                         + examples_text(audience.exclusion_examples)
                                         + (f"; and {more:,} more" if more > 0 else "")
                                         + ". Fix them (or give the exclusion source its region)"))


def legacy_optouts(suppressed: dict[str, str], problems: list[Problem]) -> None:
    """Opt-outs an older smsrun stored as written (``0612340005``) match no recipient (issue 15)."""
    legacy = [n for n in suppressed if not (n[:1] == "+" and n[1:].isdigit())]
    if legacy:
        from runner.masking import mask_number

        shown = ", ".join(mask_number(n) for n in legacy[:5]) + (f" and {len(legacy) - 5} more" if len(legacy) > 5
                                                                 else "")
        problems.append(Problem("warning", f"{len(legacy)} opt-out(s) are not in international form and suppress "
                                           f"nobody ({shown}): add them again with `smsrun optout add NUMBER "
                                           "--region FR` (see `smsrun optout list --show-numbers`)"))
