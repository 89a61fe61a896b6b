"""The composite GitHub Action (action.yml) run the way the runner runs it.

Each `run:` step goes through `bash --noprofile --norc -eo pipefail` (GitHub's `shell: bash`) with its
`env:` expressions filled from the event, GITHUB_ENV carried from step to step, a step that fails ending
the job, and a fake `gh` on PATH that keeps the pull request's comments in a JSON file. `uses:` steps
(setup-python) are skipped: the test's Python is already there. The install step really installs smsrun
from the action's folder (a copy of this repository), offline: the test venv sees this venv's packages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.repo import ROOT, Repo

pytestmark = pytest.mark.timeout(600)

FAKE_GH = """\
#!{python}
import json, os, sys
state_path = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_path)) if os.path.exists(state_path) else {{"comments": [], "calls": []}}
args = sys.argv[1:]
state["calls"].append({{"args": args, "token": os.environ.get("GH_TOKEN", "")}})
def save():
    json.dump(state, open(state_path, "w"))
def body_from(path):
    return open(path, encoding="utf-8").read()
if args[:2] == ["pr", "comment"]:
    body = body_from(args[args.index("--body-file") + 1])
    state["comments"].append({{"id": 1000 + len(state["comments"]), "body": body}})
elif args[0] == "api" and "--method" in args and args[args.index("--method") + 1] == "PATCH":
    target = int(args[args.index("--method") + 2].rsplit("/", 1)[1])
    field = args[args.index("-F") + 1]
    assert field.startswith("body=@"), field
    for c in state["comments"]:
        if c["id"] == target:
            c["body"] = body_from(field[len("body=@"):])
elif args[0] == "api" and args[1].endswith("/comments") and "--jq" in args:
    # the one query the action makes: ids of the comments whose body starts with the marker
    marker = args[args.index("--jq") + 1].split('startswith("', 1)[1].split('")', 1)[0]
    for c in state["comments"]:
        if c["body"].startswith(marker):
            print(c["id"])
else:
    print("fake gh: unexpected call", args, file=sys.stderr)
    save()
    sys.exit(2)
save()
"""

CAMPAIGN = """\
id: {id}
sender: ACME Shop
message: "Hi {{{{ first_name | default('there') }}}}, -20% this week"
commercial: false
recipients:
  - addressbook: books/team.yaml
    groups: [staff]
{extra}"""
BOOK = """\
contacts:
  - name: Alice
    phone: "+33611111111"
    groups: [staff]
    fields: {first_name: Alice}
  - name: Bruno
    phone: "+33622222222"
    groups: [staff]
"""


@dataclass
class Job:
    steps: list[tuple[str, int, str, str]] = field(default_factory=list)  # (name, code, stdout, stderr)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(code for _, code, _, _ in self.steps)

    @property
    def log(self) -> str:
        return "".join(out + err for _, _, out, err in self.steps)


def _lookup(context: dict[str, Any], expression: str) -> str:
    value: Any = context
    for part in expression.strip().split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return "" if value is None else str(value)


def expand(text: str, context: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{(.+?)\}\}", lambda m: _lookup(context, m.group(1)), text)


def run_action(workspace: Path, action_dir: Path, python_bin: Path, tmp: Path, *, event: str,
               with_: dict[str, str] | None = None, env: dict[str, str] | None = None, pr: int = 7) -> Job:
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    github = {"event_name": event, "repository": "acme/campaigns", "token": "ghs_test_token",
              "event": {"pull_request": {"number": pr, "head": {"sha": "abc1234"}} if event == "pull_request" else {}}}
    context: dict[str, Any] = {"github": github}
    inputs = {k: expand(str(v), context) for k, v in inputs.items()} | (with_ or {})
    context["inputs"] = inputs
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    env_file, path_file = runner_temp / "github_env", runner_temp / "github_path"
    env_file.write_text("")
    path_file.write_text("")
    job_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SMSRUN_"))}
    job_env.update({"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_ENV": str(env_file),
                    "GITHUB_PATH": str(path_file), "RUNNER_TEMP": str(runner_temp),
                    "GITHUB_ACTION_PATH": str(action_dir), "GITHUB_WORKSPACE": str(workspace),
                    "PATH": f"{tmp / 'fakebin'}{os.pathsep}{python_bin}{os.pathsep}{os.environ['PATH']}",
                    "FAKE_GH_STATE": str(tmp / "gh.json"), "NO_COLOR": "1",
                    # offline install: the test venv already sees every dependency
                    "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"})
    job_env.update(env or {})
    job = Job()
    for index, step in enumerate(action["runs"]["steps"]):
        if "uses" in step:
            continue
        assert step.get("shell") == "bash", step
        assert "${{" not in step["run"], "scripts read their inputs from env, never from ${{ }}"
        script = runner_temp / f"step{index}.sh"
        script.write_text(step["run"])
        step_env = dict(job_env)
        for line in env_file.read_text().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                step_env[key] = value
        step_env.update({k: expand(str(v), context) for k, v in (step.get("env") or {}).items()})
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                              env=step_env, capture_output=True, text=True, timeout=300)
        job.steps.append((step.get("name", f"step {index}"), done.returncode, done.stdout, done.stderr))
        job.env = step_env
        if done.returncode:
            break  # as on GitHub: a failed step skips the rest
    return job


@pytest.fixture(scope="module")
def action_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action as the runner downloads it: this repository's files at one ref (here: the work tree)."""
    target = tmp_path_factory.mktemp("action") / "smsrun"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    for name in listed:
        source = ROOT / name
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():  # runner/schemas -> ../schema, as a checkout keeps it
            os.symlink(os.readlink(source), target / name)
        elif source.is_file():
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def python_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """setup-python's stand-in: a fresh venv (where the install step installs smsrun) that sees this venv's
    packages through a .pth file, so the install needs no network."""
    venv = tmp_path_factory.mktemp("py") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "outer.pth").write_text("\n".join(ours) + "\n")
    return venv / "bin"


@pytest.fixture
def workspace(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "ws")
    repo.write("campaigns/books/team.yaml", BOOK)
    repo.write("campaigns/welcome.yaml", CAMPAIGN.format(id="welcome", extra=""))
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "gh").write_text(FAKE_GH.format(python=sys.executable))
    (fake / "gh").chmod(0o755)
    return repo


def gh_state(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "gh.json").read_text())
    return data


def test_pull_request_posts_one_plan_comment_and_updates_it(workspace: Repo, action_dir: Path, python_bin: Path,
                                                           tmp_path: Path) -> None:
    job = run_action(workspace.path, action_dir, python_bin, tmp_path, event="pull_request")
    assert not job.failed, job.log
    assert "mode plan" in job.log
    [comment] = gh_state(tmp_path)["comments"]
    body = comment["body"]
    assert body.startswith("<!-- smsrun-plan -->") and "welcome" in body and "books/team" not in body
    assert "No shared ledger" in body  # no SMSRUN_LEDGER for this job
    assert all(call["token"] == "ghs_test_token" for call in gh_state(tmp_path)["calls"])
    # the next push: the same comment is updated, not a second one added
    workspace.write("campaigns/welcome.yaml", CAMPAIGN.format(id="welcome", extra="").replace("-20%", "-30%"))
    again = run_action(workspace.path, action_dir, python_bin, tmp_path, event="pull_request")
    assert not again.failed, again.log
    comments = gh_state(tmp_path)["comments"]
    assert len(comments) == 1 and "-30%" in comments[0]["body"] and "-20%" not in comments[0]["body"]
    assert any("PATCH" in call["args"] for call in gh_state(tmp_path)["calls"])


def test_a_failing_plan_is_still_posted_then_fails_the_job(workspace: Repo, action_dir: Path, python_bin: Path,
                                                          tmp_path: Path) -> None:
    workspace.write("campaigns/broken.yaml", CAMPAIGN.format(id="broken", extra="").replace("[staff]", "[staf]"))
    job = run_action(workspace.path, action_dir, python_bin, tmp_path, event="pull_request",
                     with_={"ledger": "postgresql://reader@db.example.invalid/smsrun"})
    assert job.failed
    [comment] = gh_state(tmp_path)["comments"]
    body = comment["body"]
    assert "❌" in body and "no contact in group 'staf'" in body and "welcome" in body
    assert "No shared ledger" not in body  # the job had a read-only ledger URL
    assert "::error file=campaigns/broken.yaml,line=7" in job.log  # the annotation, at groups:
    assert job.env.get("SMSRUN_LEDGER", "") == ""  # the URL is given to smsrun only, inside the plan step


def test_merge_sends_once_and_a_rerun_sends_nothing(workspace: Repo, action_dir: Path, python_bin: Path,
                                                    tmp_path: Path) -> None:
    state = {"SMSRUN_STATE_DIR": str(tmp_path / "kept-state")}
    job = run_action(workspace.path, action_dir, python_bin, tmp_path, event="push", env=state)
    assert not job.failed, job.log
    assert "mode send" in job.log and "sent" in job.log
    assert not (tmp_path / "gh.json").exists()  # no comment on a push
    workspace.state = tmp_path / "kept-state"
    assert sorted(to for _, to, _ in workspace.outbox()) == ["+33611111111", "+33622222222"]
    again = run_action(workspace.path, action_dir, python_bin, tmp_path, event="push", env=state)
    assert not again.failed, again.log
    assert len(workspace.outbox()) == 2


def test_invalid_files_send_nothing(workspace: Repo, action_dir: Path, python_bin: Path, tmp_path: Path) -> None:
    workspace.write("campaigns/welcome.yaml", CAMPAIGN.format(id="welcome", extra="limits: {max_parts: 0}\n"))
    job = run_action(workspace.path, action_dir, python_bin, tmp_path, event="push",
                     env={"SMSRUN_STATE_DIR": str(tmp_path / "s")})
    assert job.failed and "nothing sent" in job.log
    assert not (tmp_path / "s" / "outbox.sqlite").exists()
def test_the_readme_workflow_uses_this_action_at_a_commit_that_has_it() -> None:
    readme = (ROOT / "README.md").read_text()
    workflow = textwrap.dedent(readme.split("## CI example (GitHub Actions)", 1)[1].split("```yaml", 1)[1]
                               .split("```", 1)[0])
    steps = yaml.safe_load(workflow)["jobs"]["sms"]["steps"]
    uses = [s["uses"] for s in steps if "smsrun" in s.get("uses", "")]
    assert uses and all(re.fullmatch(r"[\w.-]+/smsrun@[0-9a-f]{40}", u) for u in uses), uses
    pre_commit = re.search(r"rev: ([0-9a-f]{40})", readme)
    assert pre_commit, "the pre-commit example pins a full commit"
    for ref in {u.split("@")[1] for u in uses} | {pre_commit.group(1)}:
        found = subprocess.run(["git", "cat-file", "-e", f"{ref}:action.yml"], cwd=ROOT, capture_output=True)
        if found.returncode and subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT,
                                               capture_output=True, text=True).stdout.strip() == "true":
            pytest.skip("a shallow clone cannot tell whether the pinned commit exists")
        assert found.returncode == 0, f"{ref} is not a commit of this repository with action.yml"
        hooks = subprocess.run(["git", "cat-file", "-e", f"{ref}:.pre-commit-hooks.yaml"], cwd=ROOT)
        assert hooks.returncode == 0
