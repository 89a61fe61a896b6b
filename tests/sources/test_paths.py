"""Local CSV files and address books must stay inside the repository: `smsrun validate` and
`smsrun plan` refuse a path that leaves it (``..``, absolute paths, symlinks pointing out) with a clear
positioned error, exit 1, no traceback - and nothing outside is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.sources.paths import OutsideRepository, PathProblem, resolve_inside
from tests.support.repo import Repo

CAMPAIGN = """\
id: paths
message: Hello
commercial: false
recipients:
  - {kind}: {name}
"""


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the repository, holding files a campaign must not read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text("phone\n+33612345678\n", encoding="utf-8")
    (folder / "book.yaml").write_text("contacts:\n  - {name: A, phone: '+33612345678'}\n", encoding="utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def campaign(project: Repo, kind: str, name: str) -> None:
    project.write("campaigns/c.yaml", CAMPAIGN.format(kind=kind, name=name))


def assert_refused(project: Repo, name: str, reason: str = "is outside the repository") -> None:
    for command in (["validate", "campaigns/c.yaml"], ["plan", "campaigns/c.yaml"],
                    ["plan", "campaigns/c.yaml", "--json"]):
        result = project.run(*command)
        assert result.code == 1, (command, result.both)
        assert "Traceback" not in result.both and "internal error" not in result.both
        where = "campaigns/c.yaml:5:"
        line = next((line for line in result.both.splitlines() if line.startswith(where)), None)
        assert line is not None, (command, result.both)
        assert ": error: " in line and reason in line, line
        assert repr(name) in line or name in line, line
        assert "+33612345678" not in result.both and "+336" not in result.out  # nothing was read


@pytest.mark.parametrize("kind", ["csv", "addressbook"])
def test_dot_dot_out_of_the_repository(project: Repo, outside: Path, kind: str) -> None:
    target = "../../outside/secret.csv" if kind == "csv" else "../../outside/book.yaml"
    campaign(project, kind, target)
    assert_refused(project, target)


@pytest.mark.parametrize("kind", ["csv", "addressbook"])
def test_etc_passwd(project: Repo, kind: str) -> None:
    target = "../../../../../../../../etc/passwd"
    campaign(project, kind, target)
    assert_refused(project, target)


@pytest.mark.parametrize("kind", ["csv", "addressbook"])
def test_absolute_paths(project: Repo, outside: Path, kind: str) -> None:
    for target in ("/etc/passwd", str(outside / "secret.csv")):
        campaign(project, kind, target)
        assert_refused(project, target)


@pytest.mark.parametrize("kind", ["csv", "addressbook"])
def test_a_symlink_pointing_out(project: Repo, outside: Path, kind: str) -> None:
    link = project.path / "campaigns" / "link.csv"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside / ("secret.csv" if kind == "csv" else "book.yaml"))
    campaign(project, kind, "link.csv")
    assert_refused(project, "link.csv")


def test_a_symlinked_folder_pointing_out(project: Repo, outside: Path) -> None:
    (project.path / "campaigns").mkdir(parents=True, exist_ok=True)
    (project.path / "campaigns" / "lists").symlink_to(outside, target_is_directory=True)
    campaign(project, "csv", "lists/secret.csv")
    assert_refused(project, "lists/secret.csv")


def test_a_symlink_to_etc_passwd(project: Repo) -> None:
    (project.path / "campaigns").mkdir(parents=True, exist_ok=True)
    (project.path / "campaigns" / "passwd.csv").symlink_to("/etc/passwd")
    campaign(project, "csv", "passwd.csv")
    assert_refused(project, "passwd.csv")


def test_a_symlink_loop_and_a_nul_byte_are_clear_errors(project: Repo) -> None:
    folder = project.path / "campaigns"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").symlink_to("b.csv")
    (folder / "b.csv").symlink_to("a.csv")
    campaign(project, "csv", "a.csv")
    assert_refused(project, "a.csv", "symbolic link loop")
    campaign(project, "csv", '"list\\0.csv"')
    assert_refused(project, "list", "NUL")


def test_paths_that_stay_inside_are_fine(project: Repo) -> None:
    project.write("lists/list.csv", "phone\n+33612345678\n")
    project.write("campaigns/lists/real.csv", "phone\n+33698765432\n")
    (project.path / "campaigns" / "inside-link.csv").symlink_to(project.path / "lists" / "list.csv")
    project.write("campaigns/c.yaml", """\
id: paths
message: Hello
commercial: false
recipients:
  - csv: ../lists/list.csv
  - csv: lists/../lists/real.csv
  - csv: inside-link.csv
""")
    assert project.run("validate", "campaigns/c.yaml").code == 0
    result = project.run("plan", "campaigns/c.yaml", "--json")
    assert result.code == 0, result.both
    assert '"valid": 3' in result.out


def test_the_repository_is_the_folder_holding_dot_git(tmp_path: Path) -> None:
    """A campaign in a sub-folder may reach up to the repository root, not past it."""
    repo = Repo(tmp_path / "repo")
    repo.write("shared/list.csv", "phone\n+33612345678\n")
    repo.write("team/campaigns/c.yaml", CAMPAIGN.format(kind="csv", name="../../shared/list.csv"))
    assert repo.run("validate", "team/campaigns/c.yaml").code == 0
    (tmp_path / "list.csv").write_text("phone\n+33612345678\n", encoding="utf-8")
    repo.write("team/campaigns/c.yaml", CAMPAIGN.format(kind="csv", name="../../../list.csv"))
    result = repo.run("validate", "team/campaigns/c.yaml")
    assert result.code == 1 and "is outside the repository" in result.out


# -- resolve_inside itself ---------------------------------------------------------------------------------------------
def test_resolve_inside(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "a").mkdir(parents=True)
    assert resolve_inside(root / "a", "x.csv", root) == (root / "a" / "x.csv").resolve()
    assert resolve_inside(root / "a", "../x.csv", root) == (root / "x.csv").resolve()
    with pytest.raises(OutsideRepository):
        resolve_inside(root / "a", "../../x.csv", root)
    with pytest.raises(OutsideRepository):
        resolve_inside(root / "a", "/etc/passwd", root)
    with pytest.raises(PathProblem, match="NUL"):
        resolve_inside(root, "a\x00b", root)
    os.symlink("loop", root / "loop")
    with pytest.raises(PathProblem, match="loop"):
        resolve_inside(root, "loop/x.csv", root)
