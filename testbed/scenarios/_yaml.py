"""A safe YAML loader that remembers the line of every mapping, key and list item.

``load_yaml`` returns plain ``dict``/``list`` subclasses (:class:`LineDict`, :class:`LineList`) that
behave exactly like their base types (``json.dumps`` and ``jsonschema`` see ordinary containers) and
carry 1-based line numbers, so that schema errors and results can point at ``file.yaml:LINE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from testbed.core.errors import InputError


class LineDict(dict[str, Any]):
    """A mapping read from YAML: ``line`` is where it starts, ``key_lines[key]`` where each key is."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """The line of ``key`` (the mapping's own line when the key is absent)."""
        return getattr(self, "key_lines", {}).get(key, self.line)


class LineList(list[Any]):
    """A sequence read from YAML: ``line`` is where it starts, ``item_lines[i]`` where item i is."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        """The line of item ``index`` (the sequence's own line when out of range)."""
        lines = getattr(self, "item_lines", [])
        return lines[index] if 0 <= index < len(lines) else self.line


# libyaml's parser (when PyYAML was built with it) keeps node marks and is about ten times faster
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"mapping keys must be strings, not {type(key).__name__} ({key!r})",
                key_node.start_mark,
            )
        if key in result:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _timestamp_as_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    # FHIR dates must stay text: YAML would turn 2024-01-02 into a datetime.date
    return str(loader.construct_scalar(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def load_yaml(text: str, *, source: str) -> Any:
    """Parse one YAML document keeping line numbers.

    Args:
        text: the YAML text.
        source: the file name, put at the start of error messages.

    Raises:
        InputError: the text is not valid YAML (message names the file, line and column).
    """
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise InputError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: invalid YAML: {exc}") from None


def load_yaml_file(path: Path) -> Any:
    """Read and parse a YAML file keeping line numbers (see :func:`load_yaml`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    return load_yaml(text, source=str(path))


def line_at(document: Any, path: Sequence[str | int]) -> int:
    """The line of the deepest node reachable along a JSON path (keys and indexes).

    Used to place a schema error: the line of the bad key itself when it exists, else of the
    closest container.
    """
    line = getattr(document, "line", 1) or 1
    node = document
    for part in path:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            line = node.line_of(part)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.line_of(part)
            node = node[part]
        else:
            break
    return line
