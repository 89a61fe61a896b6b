"""runner.campaign reads the file alone; runner.check.load_campaign adds the checks that need the
message, source and provider stages, and reports every problem of both together, sorted."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.campaign import read_campaign
from runner.check import load_campaign
from runner.errors import CampaignError

CAMPAIGN = """\
id: promo
sender: ACME
message: "Hello {{ first_name"
commercial: true
recipients:
  - csv: missing.csv
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_campaign_stage_reads_the_file_alone(repo: Path) -> None:
    (repo / "c.yaml").write_text(CAMPAIGN, encoding="utf-8")
    campaign = read_campaign(repo / "c.yaml")  # the template, the STOP mention and the file are not its business
    assert campaign.id == "promo" and campaign.warnings == ()


def test_loading_to_plan_adds_the_checks_of_the_stages_and_reports_all_at_once(repo: Path) -> None:
    text = CAMPAIGN.replace("sender: ACME\n", "").replace("Hello", "See example.com")  # short-code: no URL
    (repo / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CampaignError) as caught:
        load_campaign(repo / "c.yaml")
    found = [(d.line, d.message[:20]) for d in caught.value.diagnostics]
    assert found == [(2, "a message containing"),  # the file alone
                     (2, "message template: un"),  # the message stage
                     (3, "a commercial campaig"),  # the provider's STOP mention
                     (5, "'missing.csv': no su")], caught.value  # the source stage


def test_files_are_not_checked_when_asked_not_to(repo: Path) -> None:
    (repo / "c.yaml").write_text(CAMPAIGN.replace("{{ first_name", "there").replace("commercial: true",
                                                                                   "commercial: false"),
                                 encoding="utf-8")
    assert load_campaign(repo / "c.yaml", check_files=False).id == "promo"
    with pytest.raises(CampaignError, match="no such file"):
        load_campaign(repo / "c.yaml")
