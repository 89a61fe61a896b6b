"""The message template sandbox: no access to Python internals, no code execution, no huge values, no
huge loops, bounded work (calls and bytes, never wall time) - each hostile template is a clear error, at
compile time or as a plan error, never a crash, a hang or a memory blow-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.message import template as template_module
from runner.message.template import MAX_OUTPUT, TemplateProblem, compile_template
from tests.support.budget import budget

FIELDS = {"first_name": "Alice", "x": "ab", "n": "3", "big": "y" * 15_000}


def refused(source: str, fields: dict[str, str] | None = None) -> str:
    """The problem ``source`` is refused with (at compile time or render), within 2 M calls and 50 MB."""
    with budget(calls=2_000_000, peak_bytes=50_000_000), pytest.raises(TemplateProblem) as caught:
        compile_template.cache_clear()
        compile_template(source).render(FIELDS if fields is None else fields)
    return caught.value.message


def renders(source: str, fields: dict[str, str] | None = None) -> str:
    return compile_template(source).render(FIELDS if fields is None else fields)


# -- internals and code execution ----------------------------------------------------------------------------
@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os.system('id') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ range.__globals__ }}",
    "{{ self.__dict__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ x|attr('__class__') }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(x) }}",
    "{% for i in [1] %}{{ loop.__class__ }}{% endfor %}",
    "{{ config }}", "{{ request }}", "{{ dict(a=1) }}",
    "{% set l = [] %}{{ l.append(1) }}",
    "{% set d = {} %}{{ d.update({'a': 1}) }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends '/etc/passwd' %}",
])
def test_internals_and_code_execution_are_refused(source: str) -> None:
    message = refused(source)
    assert any(word in message for word in ("unsafe", "missing", "no loader", "refused")), message


def test_the_refusal_names_the_attribute() -> None:
    assert "access to attribute '__class__' of 'str' object is unsafe" in refused("{{ ''.__class__.__mro__ }}")
    assert "'__init__'" in refused("{{ cycler.__init__.__globals__ }}")


# -- huge values ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "fragment"), [
    ("{{ 'x' * 10**9 }}", "repetition result too large"),
    ("{{ [1] * 10**9 }}", "repetition result too large"),
    ("{{ 'x' * 10**9 * 10 }}", "too large"),
    ("{{ '%0999999999d' % 1 }}", "format width"),
    ("{{ '%*d' % (999999999, 1) }}", "format width"),
    ("{{ '%(a)0999999999d' % {'a': 1} }}", "format width"),
    ("{{ '%0999999999d'|format(1) }}", "format width"),
    ("{{ '{:>999999999}'.format(1) }}", "format width"),
    ("{{ '{:{}}'.format(1, 999999999) }}", "nested format"),
    ("{{ '{a:>999999999}'.format_map({'a': 1}) }}", "format width"),
    ("{{ 'a'|center(999999999) }}", "center"),
    ("{{ 'a\\na'|indent(999999999) }}", "indent"),
    ("{% filter center(999999999) %}a{% endfilter %}", "center"),
    ("{{ 'a'.center(999999999) }}", "str.center"),
    ("{{ 'a'.zfill(999999999) }}", "str.zfill"),
    ("{{ x.ljust(n|int * 100000000) }}", "str.ljust"),
    ("{{ ('\\t' * 4000).expandtabs(1000000) }}", "expandtabs"),
    ("{{ big.translate({121: big}) }}", "translate"),
    ("{{ big.replace('y', big) }}", "replace"),
    ("{{ big|replace('y', big) }}", "replace"),
    ("{{ range(1000)|map('string')|join(big) }}", "join"),
    ("{{ big.join(big) }}", "join"),
    ("{{ x|slice(999999999)|list|length }}", "slice"),
    ("{{ x|batch(999999999, 'z')|list|length }}", "batch"),
    ("{{ 5|round(-999999999) }}", "round"),
    ("{{ [[1], [2]]|sum(start=[]) }}", "sum"),
    ("{{ 2 ** 999999999 }}", "exponent"),
    ("{{ (10 ** 100) ** 100 ** 100 }}", "exponent"),
    ("{{ ((2 ** 100) ** 100) ** 100 }}", "exponent"),
    ("{% set s = 'x' * 4000 %}{% set s = s ~ s ~ s ~ s ~ s ~ s %}{{ s|length }}", "too large"),
    ("{% set a = ['x' * 4000] %}" + "{% set a = [a, a] %}" * 40 + "{{ a }}", "too large"),
    ("{% set a = ['x'] %}" + "{% set a = [a, a] %}" * 40 + "{{ a|length }}", "too large"),
    ("{% set a = ['x'] %}" + "{% set a = (a, a) %}" * 40 + "{{ a|join }}", "too large"),
    ("{% set a = {'k': 'x'} %}" + "{% set a = {'a': a, 'b': a} %}" * 40 + "{{ a }}", "too large"),
    ("{{ range(10**12)|length }}", "range larger"),
    ("{{ big ~ big }}", "too large"),
])
def test_huge_values_are_refused_before_they_are_built(source: str, fragment: str) -> None:
    message = refused(source)
    assert fragment in message, message


def test_the_rendered_message_is_capped() -> None:
    assert f"longer than {MAX_OUTPUT}" in refused("{% for i in range(1000) %}{{ x * 10 }}{% endfor %}")
    assert f"longer than {MAX_OUTPUT}" in refused("{{ big }}", {"big": "y" * (MAX_OUTPUT + 1)})
    assert len(renders("{{ 'x' * 5000 }}")) == 5000


def test_printed_output_is_capped_inside_macros_too() -> None:
    message = refused("{% macro m() %}{% for i in range(1000) %}{{ big }}{% endfor %}{% endmacro %}{{ m()|length }}")
    assert "prints more than" in message


# -- huge loops and time -------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [
    "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}"
    "{% endfor %}",
    "{% for i in range(1000) %}{% for j in range(1000) %}{{ '' }}{% endfor %}{% endfor %}",
    "{% for a in big %}{% for b in big %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% for i in range(1000) %}{{ loop.cycle('a', 'b') }}{{ loop.cycle('a', 'b') }}{{ loop.cycle('a') }}{% endfor %}",
])
def test_huge_loops_and_call_trees_are_refused(source: str) -> None:
    assert "loop turns or calls" in refused(source)


def test_unbounded_recursion_is_an_error() -> None:
    assert "RecursionError" in refused("{% for c in x recursive %}{{ loop(x) }}{% endfor %}")
    assert "RecursionError" in refused("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")


def test_rendering_has_a_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_module, "MAX_SECONDS", 0.0)
    assert "takes longer than" in refused("{% for i in range(3) %}{{ i }}{% endfor %}")


# -- compile time --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [
    "{{ '%0999999999d' % 1 }}",
    "{{ 'a'|center(999999999) }}",
    "{{ 'a\\na'|indent(999999999) }}",
    "{{ '%s' % ('x' * 10**9) }}",
    "{{ 'x'|replace('x', 'yyyyyyyyyy')|replace('y', 'zzzzzzzzzz')|replace('z', 'wwwwwwwwww')|replace('w', "
    "'vvvvvvvvvv')|replace('v', 'uuuuuuuuuu')|replace('u', 'tttttttttt')|replace('t', 'ssssssssss') }}",
])
def test_constant_bombs_do_not_hang_the_compiler(source: str) -> None:
    """Jinja folds constant expressions while compiling: these used to hang compile_template (so
    `smsrun validate` never returned)."""
    compile_template.cache_clear()
    with budget(calls=1_000_000, peak_bytes=50_000_000):
        compiled = compile_template(source)
    with pytest.raises(TemplateProblem, match="refused by the template sandbox"):
        compiled.render({})


@pytest.mark.parametrize("source", [
    "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "{{ " + "[" * 3000 + "]" * 3000 + " }}",
    "{% if 1 %}" * 2000 + "x" + "{% endif %}" * 2000,
    "{% if 1 %}" * 100 + "x" + "{% endif %}" * 100,
    "{% for a in [1] %}" * 500 + "x" + "{% endfor %}" * 500,
    "{{ 'a'" + "|upper" * 5000 + " }}",
    "{{ " + " + ".join(["1"] * 5000) + " }}",
])
def test_templates_too_deep_to_compile_are_syntax_problems(source: str) -> None:
    with pytest.raises(TemplateProblem, match="nested too deeply"):
        compile_template(source)


def test_a_refused_template_is_not_run_again_for_every_recipient() -> None:
    compile_template.cache_clear()
    compiled = compile_template("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")
    with pytest.raises(TemplateProblem) as first:
        compiled.render({"x": "1"})
    with budget(calls=10_000 * 50):  # the first refusal took thousands of calls; each repeat takes a handful
        for _ in range(10_000):
            with pytest.raises(TemplateProblem) as again:
                compiled.render({"x": "2"})
    assert again.value.message == first.value.message


# -- ordinary templates keep working -------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "expected"), [
    ("{{ first_name | default('there') }}, hi", "Alice, hi"),
    ("{{ last_name | default('there') }}", "there"),
    ("{% if first_name %}Hi {{ first_name }}{% else %}Hi{% endif %}", "Hi Alice"),
    ("{{ '%s!' % first_name }}", "Alice!"),
    ("{{ '%5s|' % x }}", "   ab|"),
    ("{{ '{:>4}'.format(x) }}", "  ab"),
    ("{% for i in range(3) %}{{ loop.index }}{% endfor %}", "123"),
    ("{{ [first_name, x]|join(', ') }}", "Alice, ab"),
    ("{{ x|title }} {{ x.upper() }}", "Ab AB"),
    ("{{ (x ~ first_name)|length }}", "7"),
    ("{% for i in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}", "abab"),
    ("{% for a, b in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}", "12"),
    ("{% set a, b = 1, 2 %}{{ a + b }}", "3"),
    ("{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}", "a=1"),
    ("{% macro g(n) %}<{{ n }}>{% endmacro %}{{ g(first_name) }}", "<Alice>"),
    ("{{ '-' * 3 }}{{ 2 * 3 }}{{ 2 ** 10 }}{{ 7 % 3 }}", "---61024" + "1"),
    ("{{ 2.567|round(1) }} {{ [1, 2, 3]|sum }}", "2.6 6"),
    ("[{{ x|center(6) }}]", "[  ab  ]"),
    ("{{ first_name|replace('A', 'a') }}", "alice"),
    ("{{ big|truncate(10) }}", "yyyyyyy..."),
    ("{% filter upper %}hi {{ x }}{% endfilter %}", "HI AB"),
    ("{% with y = x %}{{ y }}{% endwith %}", "ab"),
    ("{% for c in [[1, [2]], 3] recursive %}{% if c is iterable %}{{ loop(c) }}{% else %}{{ c }}{% endif %}"
     "{% endfor %}", "123"),
    ("{{ [1, 2, 3]|batch(2)|list }}", "[[1, 2], [3]]"),
    ("{{ {'b': 1, 'a': 2}|dictsort|first|first }}", "a"),
    ("{{ n|int + 1 }}", "4"),
    ("Hello\n{{ first_name }}\n", "Hello\nAlice\n"),
])
def test_ordinary_templates_render(source: str, expected: str) -> None:
    assert renders(source) == expected


def test_missing_fields_are_named() -> None:
    with pytest.raises(TemplateProblem, match="field 'last_name' is missing"):
        renders("{{ last_name }}")


# -- through the plan ----------------------------------------------------------------------------------------
@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def write(repo: Path, message: str, recipients: int = 3) -> None:
    import json

    (repo / "list.csv").write_text("phone;first_name\n" + "".join(f"+3361{i:07d};N{i}\n" for i in range(recipients)),
                                   encoding="utf-8")
    (repo / "c.yaml").write_text(f"id: sandbox\nmessage: {json.dumps(message)}\nsender: ACME\ncommercial: false\n"
                                 "recipients:\n  - csv: list.csv\n", encoding="utf-8")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from runner.cli.main import run as main

    with pytest.raises(SystemExit) as caught:
        main(args)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


@pytest.mark.parametrize(("message", "fragment"), [
    ("{{ ''.__class__.__mro__ }}", "unsafe"),
    ("{{ 'x' * 10**9 }}", "too large"),
    ("Hi {{ first_name }} {% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
     "loop turns or calls"),
    ("{{ '%0999999999d' % 1 }}", "format width"),
    ("{{ 'a'|center(999999999) }}", "center"),
])
def test_a_hostile_template_is_a_plan_error(repo: Path, capsys: pytest.CaptureFixture[str], message: str,
                                            fragment: str) -> None:
    write(repo, message, recipients=2000)
    with budget(calls=50_000_000):  # the refusal is not paid again for each of the 2,000 recipients
        code, out, err = run(["plan", "c.yaml"], capsys)
    assert code == 1
    assert "Traceback" not in out + err and "internal error" not in err
    line = next(line for line in out.splitlines() if line.startswith("error: message template:"))
    assert "refused by the template sandbox" in line and fragment in line
    assert "for 2,000 recipient(s)" in line or "for 2000 recipient(s)" in line
    assert "Plan has errors: nothing can be sent." in out
    code, out, err = run(["send", "c.yaml", "--yes", "--json"], capsys)
    assert code == 1 and "Traceback" not in out + err
    code, out, _ = run(["outbox", "--json"], capsys)
    assert out.strip() in ("[]", "")  # nothing was sent


def test_a_template_too_deep_to_compile_fails_validate_at_the_message(repo: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")
    code, out, err = run(["validate", "c.yaml"], capsys)
    assert code == 1 and "Traceback" not in out + err
    assert "c.yaml:2:10: error: message template: the template is nested too deeply" in out
