"""docs/ is checked against the code, the way the README is checked against ``--help``."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from runner.providers import registry
from runner.providers.base import Provider
from runner.providers.spec import ProviderSpec

ROOT = Path(__file__).resolve().parents[1]
ADDING = (ROOT / "docs" / "adding-a-provider.md").read_text("utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text("utf-8")


def test_adding_a_provider_lists_every_field_of_the_spec() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", ADDING, re.M))
    assert documented == {f.name for f in dataclasses.fields(ProviderSpec)}


def test_adding_a_provider_names_the_registry_and_its_entry_point_group() -> None:
    assert f'group "{registry.ENTRY_POINT_GROUP}"' in ADDING.replace("`", '"') or \
        f"`{registry.ENTRY_POINT_GROUP}`" in ADDING
    assert f'[project.entry-points."{registry.ENTRY_POINT_GROUP}"]' in ADDING
    for name, target in registry.BUILTIN.items():  # every built-in follows the shape the page shows
        module, _, attr = target.partition(":")
        assert attr == "PROVIDER", name
        assert module.startswith("runner.providers."), name
        assert registry.get_spec(name).name == name


def test_adding_a_provider_names_methods_that_exist() -> None:
    for method in re.findall(r"`(\w+)\(", ADDING):
        if method in {"setting", "ProviderSpec"}:
            continue
        assert hasattr(Provider, method) or method == "send_requests", method


def test_every_path_the_docs_name_exists() -> None:
    for text in (ADDING, ARCHITECTURE):
        for path in re.findall(r"`((?:runner|tests|bench|schema|docs)/[\w/.-]+\.(?:py|md|json))`", text):
            assert (ROOT / path).exists(), path


def test_the_architecture_names_every_runner_package() -> None:
    packages = {p.name for p in (ROOT / "runner").iterdir() if (p / "__init__.py").exists()}
    named = set(re.findall(r"`runner/(\w+)/`", ARCHITECTURE))
    assert packages <= named, sorted(packages - named)
