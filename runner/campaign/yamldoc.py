"""Read YAML safely and remember where every key and value was written.

* C loader when available (10x faster), YAML 1.2-style booleans (only true/false: ``NO`` stays the
  string "NO", not False) and numbers (no base 60: ``18:00`` stays the string "18:00", not 1080),
  timestamps left as strings (the schema checks them);
* bounded: a size cap and a cap on the expanded node count, so alias bombs fail fast;
* duplicate keys are errors, not "last one wins"; keys are text (``1:`` or ``true:`` as a key is an error,
  at its position, not a key nobody can find); recursive aliases are refused;
* :class:`Document` maps a key path (``("recipients", 0, "csv")``) to its line and column.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from runner.errors import Diagnostic

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    pass


_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
# YAML 1.1's ints and floats without the base-60 forms: unquoted `end: 18:00` is the text "18:00" (a time),
# not the number 1080
_INT = re.compile(r"""^(?:[-+]?0b[0-1_]+
                    |[-+]?0[0-7_]+
                    |[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+)$""", re.X)
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)
_RESOLVERS = {"tag:yaml.org,2002:bool": _BOOL, "tag:yaml.org,2002:int": _INT, "tag:yaml.org,2002:float": _FLOAT}
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, _RESOLVERS.get(tag, regexp))
        for tag, regexp in resolvers
        if tag != "tag:yaml.org,2002:timestamp"
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.yaml_implicit_resolvers.setdefault("t", []).append(("tag:yaml.org,2002:bool", _BOOL))
_Loader.yaml_implicit_resolvers.setdefault("T", []).append(("tag:yaml.org,2002:bool", _BOOL))
_Loader.yaml_implicit_resolvers.setdefault("f", []).append(("tag:yaml.org,2002:bool", _BOOL))
_Loader.yaml_implicit_resolvers.setdefault("F", []).append(("tag:yaml.org,2002:bool", _BOOL))


@dataclass
class Document:
    path: str
    data: Any
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)  # where the key is written
    value_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)  # where the value starts

    def mark(self, key: PathKey, *, prefer_key: bool = False) -> tuple[int, int]:
        """Line/column (1-based) of a key path; walks up to the nearest known parent."""
        key = tuple(key)
        while True:
            if prefer_key and key in self.key_marks:
                return self.key_marks[key]
            if key in self.value_marks:
                return self.value_marks[key]
            if key in self.key_marks:
                return self.key_marks[key]
            if not key:
                return (1, 1)
            key = key[:-1]

    def diag(self, key: PathKey, message: str, *, prefer_key: bool = False, severity: str = "error") -> Diagnostic:
        line, col = self.mark(key, prefer_key=prefer_key)
        return Diagnostic(self.path, line, col, message, severity)


class YamlError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("\n".join(str(d) for d in diagnostics))
        self.diagnostics = diagnostics


def parse(text: str, path: str) -> Document:
    """Parse one YAML document; raise :class:`YamlError` with positions on any problem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError([Diagnostic(path, 1, 1, f"file is larger than {MAX_BYTES // 1024} KiB")])
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise YamlError([Diagnostic(path, line, 1, "file contains a NUL byte (binary file?)")])
    lines = _Lines(text)
    try:
        loader = _Loader(text)
    except UnicodeError:
        raise YamlError([Diagnostic(path, 1, 1, "file is not valid Unicode text")]) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = lines.mark(mark)
            problem = exc.problem or exc.context or "invalid YAML"
            char = text[mark.index:mark.index + 1] if mark is not None else ""
            if char == "\t":
                problem += " (a tab: YAML is indented with spaces)"
            elif char and "cannot start any token" in problem:
                problem += f" ({char!r})"
            raise YamlError([Diagnostic(path, line, col, f"YAML syntax: {problem}")]) from None
        except yaml.reader.ReaderError as exc:
            # a character YAML does not allow (control characters, U+FFFE...): place it
            # libyaml's position counts bytes; the reader stops at the first such character, so find it
            found = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
            line, col = lines.at(found if found >= 0 else exc.position)
            raise YamlError([Diagnostic(path, line, col, f"YAML: character U+{exc.character:04X} is not allowed "
                                                         "in a YAML file (control character?)")]) from None
        except yaml.YAMLError as exc:
            raise YamlError([Diagnostic(path, 1, 1, f"YAML: {exc}")]) from None
        except RecursionError:
            raise YamlError([Diagnostic(path, 1, 1, "YAML is nested too deeply")]) from None
        except UnicodeError:
            raise YamlError([Diagnostic(path, 1, 1, "file is not valid Unicode text")]) from None
        if node is None:
            return Document(path, None)
        diagnostics = _check_shape(node, path, loader, lines)
        if diagnostics:
            raise YamlError(diagnostics)
        try:
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            line, col = lines.mark(exc.problem_mark or exc.context_mark)
            raise YamlError([Diagnostic(path, line, col, f"YAML: {exc.problem or exc.context}")]) from None
        except Exception as exc:  # the shape check built every scalar: this is a last resort, still an error
            raise YamlError([Diagnostic(path, 1, 1, f"YAML: {exc}")]) from None
    finally:
        loader.dispose()
    doc = Document(path, data)
    _record_marks(node, (), doc, 0, lines)
    return doc


_BREAK = re.compile(r"\r\n?|\n")


class _Lines:
    """1-based line and column of a character offset, lines split the way editors and GitHub split them
    (``\n``, ``\r\n``, ``\r``). YAML's own marks also break lines at U+0085, U+2028 and U+2029, so a
    message pasted with a U+2028 in it would shift every later position by one line."""

    def __init__(self, text: str) -> None:
        self.starts = [0, *(m.end() for m in _BREAK.finditer(text))]

    def at(self, index: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, max(index, 0)) - 1
        return i + 1, index - self.starts[i] + 1

    def mark(self, mark: yaml.Mark | None) -> tuple[int, int]:
        return self.at(mark.index) if mark is not None else (1, 1)


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
MAX_NUMBER_CHARS = 100
_KIND = {"tag:yaml.org,2002:int": "an integer", "tag:yaml.org,2002:float": "a number",
         "tag:yaml.org,2002:bool": "a boolean", "tag:yaml.org,2002:null": "null (empty)"}


def _check_shape(root: yaml.Node, path: str, loader: Any, lines: _Lines) -> list[Diagnostic]:
    """Bound the expanded size (alias bombs) and depth; reject recursive aliases, duplicate keys, keys
    that are not text and scalars that cannot be built (``!!int x``), each at its position."""
    sizes: dict[int, int] = {}
    active: set[int] = set()  # the nodes being walked: meeting one again is a recursive alias
    problems: list[Diagnostic] = []

    def at(node: yaml.Node, message: str) -> None:
        problems.append(Diagnostic(path, *lines.mark(node.start_mark), message))

    def scalar(node: yaml.ScalarNode) -> None:
        if node.tag == _MERGE_TAG:  # the `<<` key: only meaningful inside its mapping
            return
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            at(node, f"number is too long ({len(node.value)} characters)")
            return
        try:
            loader.construct_object(node)
        except yaml.MarkedYAMLError as exc:
            at(node, f"YAML: {exc.problem or exc.context}")
        except Exception as exc:  # PyYAML's constructors fail in many ways on hostile scalars (!!timestamp x)
            detail = f"{exc}" if isinstance(exc, (yaml.YAMLError, ValueError, OverflowError)) else "not a valid value"
            at(node, f"YAML: cannot read {node.value[:40]!r} as {node.tag.rsplit(':', 1)[-1]}: {detail}")

    def key_problem(key_node: yaml.Node) -> str | None:
        if not isinstance(key_node, yaml.ScalarNode):
            return "a key must be a plain name, not a list or a mapping"
        if key_node.tag in (_STR_TAG, _MERGE_TAG):
            return None
        kind = _KIND.get(key_node.tag, key_node.tag)
        return (f"key {key_node.value!r} is read as {kind}, not as a name: quote it "
                f"(\"{key_node.value}\") if it is meant as text")

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooDeep(node)
        if id(node) in active:
            raise _Recursive(node)
        known = sizes.get(id(node))
        if known is not None:
            return known
        active.add(id(node))
        total = 1
        if isinstance(node, yaml.ScalarNode):
            scalar(node)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, value_node in node.value:
                problem = key_problem(key_node)
                if problem is not None:
                    at(key_node, problem)
                elif key_node.value in seen and key_node.value != "<<":
                    at(key_node, f"duplicate key {key_node.value!r} "
                                 f"(first at line {lines.mark(seen[key_node.value].start_mark)[0]})")
                elif key_node.value == "<<" and isinstance(value_node, yaml.SequenceNode):
                    twice = _merged_twice(value_node)  # issue 15
                    if twice:
                        at(key_node, f"the merge (<<) sets {', '.join(repr(k) for k in twice)} more than once: "
                                     "YAML readers disagree on which one wins; set each key once")
                else:
                    seen.setdefault(key_node.value, key_node)
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
                if total > MAX_NODES:
                    raise _TooBig(node)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
                if total > MAX_NODES:
                    raise _TooBig(node)
        active.discard(id(node))
        sizes[id(node)] = total
        return total

    try:
        size(root, 0)
    except _Recursive as exc:
        return [Diagnostic(path, *lines.mark(exc.node.start_mark), "recursive alias: this value contains itself")]
    except _TooDeep as exc:
        return [Diagnostic(path, *lines.mark(exc.node.start_mark),
                           f"document is nested deeper than {MAX_DEPTH} levels")]
    except _TooBig as exc:
        return [Diagnostic(path, *lines.mark(exc.node.start_mark),
                           f"document expands to more than {MAX_NODES} nodes (alias bomb?)")]
    return problems


def _merged_keys(node: yaml.Node, depth: int = 0) -> set[str]:
    """The keys a mapping gives a merge (its own and those it merges itself)."""
    keys: set[str] = set()
    if not isinstance(node, yaml.MappingNode) or depth > MAX_DEPTH:
        return keys
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE_TAG:
            for item in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
                keys |= _merged_keys(item, depth + 1)
        elif isinstance(key_node, yaml.ScalarNode):
            keys.add(key_node.value)
    return keys


def _merged_twice(sequence: yaml.SequenceNode) -> list[str]:
    """Keys two mappings of one merge list both set (issue 15): the YAML merge spec says the first wins,
    PyYAML's order has differed; a campaign's legal flag must not depend on the reader."""
    seen: set[str] = set()
    twice: list[str] = []
    for item in sequence.value:
        for key in sorted(_merged_keys(item)):
            if key in seen and key not in twice:
                twice.append(key)
            seen.add(key)
    return twice


class _TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _TooDeep(_TooBig):
    pass


class _Recursive(_TooBig):
    pass


def _record_marks(node: yaml.Node, key: PathKey, doc: Document, depth: int, lines: _Lines) -> None:
    if depth > MAX_DEPTH:
        return
    doc.value_marks.setdefault(key, lines.mark(node.start_mark))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            child = (*key, key_node.value)
            doc.key_marks.setdefault(child, lines.mark(key_node.start_mark))
            _record_marks(value_node, child, doc, depth + 1, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_marks(item, (*key, index), doc, depth + 1, lines)


def walk(data: Any, prefix: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    """Every (key path, value) of a parsed document, the document itself first."""
    yield prefix, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from walk(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from walk(v, (*prefix, i))
