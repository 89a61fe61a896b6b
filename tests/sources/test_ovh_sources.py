"""``ovh-phonebook`` and ``ovh-receivers`` sources against the loopback fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.campaign.model import Position, SourceSpec
from runner.errors import ConfigError, CredentialsError, SourceError
from runner.sources import open_source
from runner.sources.base import Row, SourceContext
from runner.sources.ovh import OvhPhonebookSource, OvhReceiversSource
from tests.support.fake_ovh import FakeOvh


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as server:
        yield server


@pytest.fixture
def ctx(fake: FakeOvh, tmp_path: Path) -> SourceContext:
    return SourceContext(repo_root=tmp_path, env={**fake.credentials, "OVH_REQUESTS_PER_MINUTE": "100000"})


def spec(kind: str, value: Any, tmp_path: Path, **extra: Any) -> SourceSpec:
    return SourceSpec(kind, {kind: value, **extra}, tmp_path, Position("campaign.yaml", 7, 5))


@pytest.fixture
def book(fake: FakeOvh) -> str:
    key = fake.add_phonebook("Clients")
    fake.add_contact(key, name="Ann", surname="Martin", group="vip", home_mobile="+33612345678", work_mobile="+3361")
    fake.add_contact(key, name="Bob", surname="Durand", group="std", work_mobile="+33612345679")
    fake.add_contact(key, name="Cy", surname="Petit", group="vip", home_phone="+33140000000")
    return key


def test_phonebook_rows(fake: FakeOvh, ctx: SourceContext, book: str) -> None:
    source = OvhPhonebookSource({"ovh-phonebook": {"book": book}}, ctx)
    rows = list(source.rows())
    assert rows == [
        Row("+33612345678", 1, {"name": "Ann", "surname": "Martin", "group": "vip"}),
        Row("+33612345679", 2, {"name": "Bob", "surname": "Durand", "group": "std"}),
        Row("", 3, {"name": "Cy", "surname": "Petit", "group": "vip"}),  # no mobile: reported by the planner
    ]
    assert source.label == f"ovh-phonebook {book}"


def test_phonebook_groups_and_name_lookup(fake: FakeOvh, ctx: SourceContext, book: str) -> None:
    source = OvhPhonebookSource({"ovh-phonebook": {"book": "Clients", "groups": ["vip"]}}, ctx)
    assert [r.fields["name"] for r in source.rows() if r.fields] == ["Ann", "Cy"]


def test_phonebook_digest_follows_content(fake: FakeOvh, ctx: SourceContext, book: str) -> None:
    options = {"ovh-phonebook": {"book": book}}
    first = OvhPhonebookSource(options, ctx).digest()
    assert OvhPhonebookSource(options, ctx).digest() == first
    source = OvhPhonebookSource(options, ctx)
    before = len(fake.requests)
    list(source.rows())
    source.digest()
    list(source.rows())
    # read once: /auth/time, the book keys, the book, the contact ids, then one GET per contact (3)
    assert len(fake.requests) - before == 7
    fake.add_contact(book, name="Dee", surname="Roux", group="std", home_mobile="+33612345670")
    assert OvhPhonebookSource(options, ctx).digest() != first


def test_phonebook_via_open_source(fake: FakeOvh, ctx: SourceContext, book: str, tmp_path: Path) -> None:
    source = open_source(spec("ovh-phonebook", {"book": book}, tmp_path, region="FR"), ctx)
    assert isinstance(getattr(source, "inner", None), OvhPhonebookSource) and source.region == "FR"
    assert len(list(source.rows())) == 3


def test_phonebook_unknown_book(fake: FakeOvh, ctx: SourceContext, book: str) -> None:
    with pytest.raises(SourceError, match="Nope"):
        list(OvhPhonebookSource({"ovh-phonebook": {"book": "Nope"}}, ctx).rows())


def test_receivers_rows(fake: FakeOvh, ctx: SourceContext) -> None:
    fake.add_receivers_slot(3, "number;Prénom\n+33612345678;Zoé\n\n+33612345679;Luc\n")
    source = OvhReceiversSource({"ovh-receivers": 3}, ctx)
    assert list(source.rows()) == [
        Row("+33612345678", 2, {"Prénom": "Zoé", "prenom": "Zoé"}),
        Row("+33612345679", 4, {"Prénom": "Luc", "prenom": "Luc"}),
    ]
    assert source.label == "ovh-receivers 3"
    digest = source.digest()
    assert OvhReceiversSource({"ovh-receivers": 3}, ctx).digest() == digest
    fake.add_receivers_slot(3, ["+33612345678"])
    assert OvhReceiversSource({"ovh-receivers": 3}, ctx).digest() != digest


def test_receivers_plain_numbers_and_column(fake: FakeOvh, ctx: SourceContext, tmp_path: Path) -> None:
    fake.add_receivers_slot(1, ["+33612345678", "+33612345679"])
    source = open_source(spec("ovh-receivers", 1, tmp_path), ctx)
    assert [(r.raw, r.line, r.fields) for r in source.rows()] == [
        ("+33612345678", 2, None),
        ("+33612345679", 3, None),
    ]


def test_receivers_unknown_or_invalid_slot(fake: FakeOvh, ctx: SourceContext) -> None:
    with pytest.raises(SourceError, match="slot 4"):
        list(OvhReceiversSource({"ovh-receivers": 4}, ctx).rows())
    with pytest.raises(SourceError, match=r"1\.\.9"):
        OvhReceiversSource({"ovh-receivers": 12}, ctx)
    with pytest.raises(SourceError, match=r"1\.\.9"):
        OvhReceiversSource({"ovh-receivers": "x"}, ctx)


def test_missing_credentials(fake: FakeOvh, tmp_path: Path) -> None:
    env = {k: v for k, v in fake.credentials.items() if k != "OVH_APPLICATION_KEY"}
    source = OvhReceiversSource({"ovh-receivers": 1}, SourceContext(repo_root=tmp_path, env=env))
    with pytest.raises(ConfigError, match="OVH_APPLICATION_KEY"):
        list(source.rows())


def test_credentials_from_the_process_environment(
    fake: FakeOvh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in fake.credentials.items():
        monkeypatch.setenv(key, value)
    fake.add_receivers_slot(1, ["+33612345678"])
    source = OvhReceiversSource({"ovh-receivers": 1}, SourceContext(repo_root=tmp_path))
    assert [r.raw for r in source.rows()] == ["+33612345678"]


def test_refused_credentials_propagate(fake: FakeOvh, tmp_path: Path) -> None:
    env = {**fake.credentials, "OVH_APPLICATION_SECRET": "wrong"}
    with pytest.raises(CredentialsError):
        list(OvhReceiversSource({"ovh-receivers": 1}, SourceContext(repo_root=tmp_path, env=env)).rows())


def test_unreachable_api_is_a_source_error(fake: FakeOvh, ctx: SourceContext) -> None:
    fake.fail_next("http_503", 20, where="GET .*/receivers")
    source = OvhReceiversSource({"ovh-receivers": 1}, ctx)
    source._settings["max_retries"] = 0
    with pytest.raises(SourceError, match="cannot read from OVHcloud"):
        list(source.rows())
