"""Element trees used by snapshot generation: read-only trees over existing snapshots, working trees."""

from __future__ import annotations

import re
from typing import Any

from testbed.core.errors import ProfileError

EXTENSION_NAMES = frozenset({"extension", "modifierExtension"})
CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
_CORE_WEB = "http://hl7.org/fhir/"
_RELATIVE_LINK = re.compile(r"\]\((?![A-Za-z][A-Za-z0-9+.-]*:|#|/)([^)\s]+)\)")
_TEXTS = ("short", "definition", "comment", "requirements", "meaningWhenMissing")

# Order of ElementDefinition properties in R4; properties ending in [x] are matched by prefix.
_KEY_ORDER = (
    "id",
    "extension",
    "modifierExtension",
    "path",
    "representation",
    "sliceName",
    "sliceIsConstraining",
    "label",
    "code",
    "slicing",
    "short",
    "definition",
    "comment",
    "requirements",
    "alias",
    "min",
    "max",
    "base",
    "contentReference",
    "type",
    "defaultValue",
    "meaningWhenMissing",
    "orderMeaning",
    "fixed",
    "pattern",
    "example",
    "minValue",
    "maxValue",
    "maxLength",
    "condition",
    "constraint",
    "mustSupport",
    "isModifier",
    "isModifierReason",
    "isSummary",
    "binding",
    "mapping",
)
_KEY_RANK = {k: i for i, k in enumerate(_KEY_ORDER)}
_CHOICE_PREFIXES = ("defaultValue", "fixed", "pattern", "minValue", "maxValue")


def clone(value: Any) -> Any:
    """A deep copy of JSON data (much faster than ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def _key_rank(key: str) -> int:
    rank = _KEY_RANK.get(key)
    if rank is not None:
        return rank
    for prefix in _CHOICE_PREFIXES:
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return _KEY_RANK[prefix]
    return len(_KEY_ORDER)


def _absolute_link(m: re.Match[str]) -> str:
    return f"]({_CORE_WEB}{m.group(1)})"


def ordered_element(ed: dict[str, Any]) -> dict[str, Any]:
    """The element with its properties in the order of the R4 ElementDefinition."""
    return {k: ed[k] for k in sorted(ed, key=_key_rank)}


class PNode:
    """An element of an existing snapshot; never modified."""

    __slots__ = ("ed", "name", "children", "slices", "group", "tree")

    def __init__(self, ed: dict[str, Any], name: str, tree: PTree) -> None:
        self.ed = ed
        self.name = name
        self.children: list[PNode] = []
        self.slices: list[PNode] = []
        self.group: PNode = self
        self.tree = tree


class PTree:
    """The element tree of one StructureDefinition snapshot."""

    __slots__ = ("sd", "root", "by_id", "label", "core")

    def __init__(self, sd: dict[str, Any]) -> None:
        self.sd = sd
        self.label = str(sd.get("url") or sd.get("id") or "(StructureDefinition without url)")
        self.core = self.label.startswith(CORE_SD)
        self.by_id: dict[str, PNode] = {}
        elements = (sd.get("snapshot") or {}).get("element") or []
        if not elements:
            raise ProfileError(f"StructureDefinition {self.label} has no snapshot elements.")
        self.root = self._build(elements)

    def _build(self, elements: list[dict[str, Any]]) -> PNode:
        stack: list[PNode] = []
        root: PNode | None = None
        for ed in elements:
            if not isinstance(ed, dict):
                raise ProfileError(f"Snapshot of {self.label}: an element is not an object.")
            path = ed.get("path")
            if not isinstance(path, str) or not path:
                raise ProfileError(f"Snapshot of {self.label}: an element has no path.")
            segs = path.split(".")
            depth = len(segs)
            node = PNode(ed, segs[-1], self)
            self.by_id.setdefault(str(ed.get("id") or path), node)
            slice_name = ed.get("sliceName")
            if depth == 1:
                if root is not None:
                    raise ProfileError(f"Snapshot of {self.label}: more than one root element ('{path}').")
                root = node
                stack = [node]
                continue
            if root is None or depth - 1 > len(stack) or stack[depth - 2].name != segs[-2]:
                raise ProfileError(f"Snapshot of {self.label}: element '{path}' is out of order (no parent).")
            parent = stack[depth - 2]
            prev = stack[depth - 1] if len(stack) >= depth else None
            del stack[depth - 1 :]
            if slice_name:
                if prev is None or prev.name != node.name:
                    raise ProfileError(
                        f"Snapshot of {self.label}: slice '{slice_name}' of '{path}' does not follow its "
                        "sliced element."
                    )
                node.group = prev.group
                owner = _find_slice_owner(node.group, str(slice_name))
                if owner is None:
                    raise ProfileError(
                        f"Snapshot of {self.label}: re-slice '{slice_name}' of '{path}' has no parent slice."
                    )
                owner.slices.append(node)
            else:
                if prev is not None and prev.name == node.name:
                    raise ProfileError(f"Snapshot of {self.label}: element '{path}' appears twice.")
                parent.children.append(node)
            stack.append(node)
        assert root is not None
        return root


def _find_slice_owner(group: PNode, slice_name: str) -> PNode | None:
    """The node whose ``slices`` hold this slice: the group itself, or the slice it re-slices."""
    if "/" not in slice_name:
        return group
    parent_name = slice_name.rsplit("/", 1)[0]
    todo = list(group.slices)
    while todo:
        s = todo.pop()
        if s.ed.get("sliceName") == parent_name:
            return s
        todo.extend(s.slices)
    return None


class Node:
    """An element of the snapshot being generated.

    ``origin`` is the read-only element this one was copied from: its children and slices are copied
    lazily on first access, so untouched parts of the base cost one copy each and nothing more.
    """

    __slots__ = (
        "ed",
        "name",
        "parent",
        "origin",
        "_children",
        "_slices",
        "is_slice",
        "type_boundary",
        "touched",
    )

    def __init__(self, ed: dict[str, Any], name: str, parent: Node | None, origin: PNode) -> None:
        self.ed = ed
        self.name = name
        self.parent = parent
        self.origin = origin
        self._children: list[Node] | None = None
        self._slices: list[Node] | None = None
        self.is_slice = bool(ed.get("sliceName"))
        self.type_boundary = False  # children were unfolded from a datatype or profile in this generation
        self.touched = False  # a differential element was applied to it

    @classmethod
    def copy_of(cls, p: PNode, parent: Node | None, *, with_slices: bool = True) -> Node:
        ed = clone(p.ed)
        if p.tree.core:
            # Links in the core specification are relative to it; they must stay valid in a profile.
            for k in _TEXTS:
                text = ed.get(k)
                if isinstance(text, str) and "](" in text:
                    ed[k] = _RELATIVE_LINK.sub(_absolute_link, text)
        for inv in ed.get("constraint") or []:
            inv.setdefault("source", p.tree.label)
        if "base" not in ed:
            ed["base"] = {"path": p.ed.get("path"), "min": p.ed.get("min", 0), "max": p.ed.get("max", "*")}
        node = cls(ed, p.name, parent, p)
        if not with_slices:
            node._slices = []
        return node

    @property
    def children(self) -> list[Node]:
        if self._children is None:
            self._children = [Node.copy_of(c, self) for c in self.origin.children]
        return self._children

    @property
    def slices(self) -> list[Node]:
        if self._slices is None:
            self._slices = [Node.copy_of(s, self.parent) for s in self.origin.slices]
        return self._slices

    def set_children_from(self, parent: PNode) -> None:
        """Give this element the children of another structure's element (datatype unfolding)."""
        self._children = [Node.copy_of(c, self) for c in parent.children]
        self.type_boundary = True

    @property
    def slice_name(self) -> str | None:
        name = self.ed.get("sliceName")
        return str(name) if name else None

    def label(self) -> str:
        """The element id this node will carry in the snapshot."""
        parts: list[str] = []
        node: Node | None = self
        while node is not None:
            parts.append(f"{node.name}:{node.slice_name}" if node.is_slice else node.name)
            node = node.parent
        return ".".join(reversed(parts))

    def is_extension(self) -> bool:
        return self.name in EXTENSION_NAMES or (self.parent is None and self.name == "Extension")


def flatten(root: Node) -> list[dict[str, Any]]:
    """The snapshot element list, with ids and paths computed from the tree."""
    out: list[dict[str, Any]] = []
    _flatten(root, "", "", out)
    return out


def _flatten(node: Node, parent_path: str, parent_id: str, out: list[dict[str, Any]]) -> None:
    path = f"{parent_path}.{node.name}" if parent_path else node.name
    eid = f"{parent_id}.{node.name}" if parent_id else node.name
    if node.is_slice:
        eid = f"{eid}:{node.slice_name}"
    ed = node.ed
    ed["id"] = eid
    ed["path"] = path
    out.append(ordered_element(ed))
    for child in node.children:
        _flatten(child, path, eid, out)
    for s in node.slices:
        _flatten(s, parent_path, parent_id, out)
