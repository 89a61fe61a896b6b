"""Both JSON Schemas compile under ajv's strict mode (draft 2020-12), as editors and validators built on
ajv need. ajv is installed by tests/install-and-run.sh into tests/tools/ajv (npm ci, pinned versions).
Without node the test is skipped with a message, except under CI=true, where a missing tool fails."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support.repo import ROOT

TOOL = ROOT / "tests" / "tools" / "ajv"
SCHEMAS = [ROOT / "schema" / "campaign.schema.json", ROOT / "schema" / "addressbook.schema.json"]


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the test tools must be installed; run bash tests/install-and-run.sh)")
    pytest.skip(reason)


def test_schemas_compile_under_ajv_strict_mode() -> None:
    node = shutil.which("node")
    if node is None:
        _missing("node is not installed: ajv's strict-mode check of the schemas is skipped")
    if not (TOOL / "node_modules" / "ajv").is_dir():
        _missing("ajv is not installed in tests/tools/ajv (bash tests/install-and-run.sh runs npm ci there)")
    done = subprocess.run([str(node), str(TOOL / "compile.mjs"), *map(str, SCHEMAS)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok ") == 2, done.stdout


def test_the_two_schema_folders_hold_the_same_schemas() -> None:
    for schema in SCHEMAS:
        assert (ROOT / "runner" / "schemas" / schema.name).read_bytes() == schema.read_bytes()
