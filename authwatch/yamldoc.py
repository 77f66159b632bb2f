"""YAML read with the position of every value, for errors that say where.

`load(text, name)` returns a `Doc`: the plain Python data (dicts, lists,
scalars as PyYAML's safe loader types them) and, for each key path, the line
and column it came from. Duplicate keys are an error rather than a silent
last-one-wins.

Aliases (`*name`) are bounded: a document that would expand to more than
MAX_NODES values (a "billion laughs" of nested aliases), or whose alias
refers to a value that holds it, is an error at that value rather than a hang.

Scalars follow YAML 1.2's core schema rather than PyYAML's YAML 1.1: `22:00`
stays the string "22:00" (not the number 1320), and `no`, `on`, `NO` stay
strings (a country code, not a boolean); only true/false are booleans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re

import yaml

Path = tuple  # ("targets", "chat", "url") or ("rules", 2, "match")
MAX_NODES = 100_000  # values a document may expand to, aliases written out


class YamlError(Exception):
    def __init__(self, name: str, line: int, column: int, message: str):
        super().__init__(f"{name}:{line}:{column}: {message}")
        self.name, self.line, self.column, self.message = name, line, column, message


@dataclass
class Doc:
    name: str
    data: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)  # path -> (line, column), 1-based
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)  # path -> where its key is written

    def where(self, path: Path, key: bool = False) -> str:
        """`file:line:column` of the value at `path` (or of its key, or of
        the nearest parent that has a position)."""
        p = tuple(path)
        if key and p in self.key_marks:
            line, col = self.key_marks[p]
            return f"{self.name}:{line}:{col}"
        while p not in self.marks and p:
            p = p[:-1]
        line, col = self.marks.get(p, (1, 1))
        return f"{self.name}:{line}:{col}"


def load(text: str, name: str) -> Doc:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlError(name, line, col, f"invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise YamlError(name, 1, 1, f"invalid YAML: {e}") from None
    doc = Doc(name, None)
    if node is not None:
        _expanded_size(node, {}, name)
        doc.data = _build(node, (), doc)
    return doc


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core schema scalars."""


_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _int(loader, node):
    text = loader.construct_scalar(node)
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text)


_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_constructor = _Loader(stream="")


def _expanded_size(node: yaml.Node, sizes: dict[int, int], name: str) -> int:
    """How many values `node` stands for once its aliases are written out;
    `sizes` remembers each node met (an alias is the node it names, so each
    is counted once: a bomb is measured without being expanded)."""
    known = sizes.get(id(node))
    if known == -1:
        raise _error(name, node, "an alias (*name) refers to a value that holds it")
    if known is not None:
        return known
    sizes[id(node)] = -1  # being measured
    children: list = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, name)
        if total > MAX_NODES:
            raise _error(name, node, f"with its aliases (*name) written out this is more than {MAX_NODES:,} "
                                     "values; write them out, or use fewer aliases")
    sizes[id(node)] = total
    return total


def _error(name: str, node: yaml.Node, message: str) -> YamlError:
    return YamlError(name, node.start_mark.line + 1, node.start_mark.column + 1, message)


def _build(node: yaml.Node, path: Path, doc: Doc) -> Any:
    doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError(doc.name, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                "a key must be a plain value")
            key = _construct(key_node, doc)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError(doc.name, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                "merge keys (<<) are not supported")
            if key in out:
                raise YamlError(doc.name, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                f"duplicate key {key!r}")
            doc.key_marks[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, path + (key,), doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), doc) for i, item in enumerate(node.value)]
    return _construct(node, doc)


# Tags of YAML's safe schema, named in an error (any other tag is the user's own text).
_KNOWN_TAGS = frozenset(("binary", "bool", "float", "int", "null", "str", "timestamp"))


def _construct(node: yaml.ScalarNode, doc: Doc) -> Any:
    """The value of a scalar. A tag that does not fit it (`!!int 'text'`)
    fails in PyYAML with an exception of any kind, whose text repeats the
    value (a target URL's password): the error names only its place."""
    try:
        return _constructor.construct_object(node)
    except Exception:
        name = node.tag.removeprefix("tag:yaml.org,2002:")
        what = f"cannot be read as !!{name}" if name in _KNOWN_TAGS else "has a tag that does not fit it"
        raise YamlError(doc.name, node.start_mark.line + 1, node.start_mark.column + 1,
                        f"invalid value: it {what}; write it without the tag") from None
