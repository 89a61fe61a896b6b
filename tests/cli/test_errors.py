"""Errors are rendered from their diagnostics (issue 12 §6): the same text as the old pre-formatted
messages, annotations at the file, and no sniffing of "error:" in a message."""

from __future__ import annotations

import pytest

from runner.cli.errors import error_annotations, error_text
from runner.errors import CampaignError, Diagnostic, SmsrunError, SourceError, TooManyFailuresError


@pytest.mark.parametrize(("line", "col", "shown"), [
    (0, 0, "list.csv: error: cannot read: Permission denied"),
    (7, 0, "list.csv:7: error: cannot read: Permission denied"),
    (7, 1, "list.csv:7:1: error: cannot read: Permission denied"),
])
def test_a_located_error_renders_as_path_line_col(line: int, col: int, shown: str) -> None:
    exc = SourceError.at("list.csv", line, col, "cannot read: Permission denied", key="encoding")
    assert error_text(exc) == str(exc) == shown
    assert exc.message == "cannot read: Permission denied" and exc.key == "encoding"
    assert exc.diagnostics == [Diagnostic("list.csv", line, col, "cannot read: Permission denied")]


def test_an_error_without_a_position_renders_as_error_colon() -> None:
    exc = SmsrunError("give a campaign file or --provider, not both")
    assert error_text(exc) == "error: give a campaign file or --provider, not both"
    assert error_annotations(exc) == "::error::give a campaign file or --provider, not both"


def test_a_message_that_mentions_error_is_not_taken_for_a_rendered_one() -> None:
    """The CLI used to print such a message bare, taking "error:" in it for a rendered position."""
    exc = TooManyFailuresError("stopped after 3 failed request(s) in a row; last error: HTTP 500")
    assert error_text(exc) == "error: stopped after 3 failed request(s) in a row; last error: HTTP 500"


def test_every_diagnostic_is_shown_with_its_notes_and_annotated_at_its_file() -> None:
    row = (("list.csv", 3, 1, "row concerned"),)
    exc = CampaignError("invalid campaign", [Diagnostic("c.yaml", 2, 10, "message template: field 'x' is missing",
                                                        related=row),
                                             Diagnostic("c.yaml", 5, 3, "late", "warning")])
    assert error_text(exc) == ("c.yaml:2:10: error: message template: field 'x' is missing\n"
                               "  list.csv:3:1: note: row concerned\n"
                               "c.yaml:5:3: warning: late")
    assert error_annotations(exc).splitlines() == [
        "::error file=c.yaml,line=2,col=10::message template: field 'x' is missing%0Alist.csv:3: row concerned",
        "::warning file=c.yaml,line=5,col=3::late",
    ]
    assert "c.yaml" not in exc.message


#: string literals that still hold a rendered position, each with why
PREFORMATTED_ALLOWED: set[str] = set()


def test_no_string_in_runner_preformats_a_position() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found = []
    for path in sorted((root / "runner").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and ": error: " in node.value:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert sorted({f.rsplit(":", 1)[0] for f in found}) == sorted(PREFORMATTED_ALLOWED), found
