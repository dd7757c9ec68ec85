"""Snapshot generation for StructureDefinitions that carry only a differential (as SUSHI emits them).

The base snapshot is read as a tree; each differential element is located in it by its id (or path),
unfolding datatypes, content references, renamed choice elements and slices on the way, and merged
onto the element it constrains. The tree is then written out in snapshot order: an element, its
children, then its slices (each followed by its own children and re-slices).

The output follows what the HL7 Java validator produced for the R4 core package: a renamed choice
(``Observation.valueQuantity``) becomes a type slice ``Observation.value[x]:valueQuantity`` with a
closed ``type``/``$this`` slicing on ``Observation.value[x]``, except inside a slice of a backbone
element, where the choice is narrowed in place; slices start as copies of the base element they
slice; new extension slices of an element already sliced in the base get the extension's elements.
"""

from __future__ import annotations

from typing import Any

from testbed.core.errors import ProfileError
from testbed.core.resolver import CanonicalResolver
from testbed.fhir._snapshot_merge import Merger, choice_suffix, merge_slicing, type_code
from testbed.fhir._snapshot_tree import CORE_SD, EXTENSION_NAMES, Node, PNode, PTree, clone, flatten

__all__ = ["SnapshotGenerator", "generate_snapshot"]

_Key = list[tuple[str, str | None]]
_NO_CHILDREN_PREFIX = "http://hl7.org/fhirpath/System."
_EXTENSION_SLICING = {"discriminator": [{"type": "value", "path": "url"}], "ordered": False, "rules": "open"}
_SD_ORDER = (
    "resourceType id meta implicitRules language text contained extension modifierExtension url identifier "
    "version name title status experimental date publisher contact description useContext jurisdiction "
    "purpose copyright keyword fhirVersion mapping kind abstract context contextInvariant type "
    "baseDefinition derivation snapshot differential"
).split()
_SD_RANK = {k: i for i, k in enumerate(_SD_ORDER)}
_NOT_INHERITED = frozenset(
    f"{CORE_SD}structuredefinition-{name}"
    for name in (
        "standards-status standards-status-reason normative-version fmm fmm-no-warnings wg category "
        "security-category explicit-type-name implements"
    ).split()
)
_TYPE_SLICING = {"discriminator": [{"type": "type", "path": "$this"}], "ordered": False, "rules": "closed"}


def _has_snapshot(sd: dict[str, Any]) -> bool:
    return bool((sd.get("snapshot") or {}).get("element"))


def _label(sd: dict[str, Any]) -> str:
    return str(sd.get("url") or sd.get("id") or "(StructureDefinition without url)")


class SnapshotGenerator:
    """Generates and caches snapshots of differential-only StructureDefinitions.

    Args:
        resolver: where base definitions, datatypes and profiles are looked up by canonical URL.
    """

    def __init__(self, resolver: CanonicalResolver) -> None:
        self._resolver = resolver
        self._cache: dict[str, dict[str, Any]] = {}
        self._trees: dict[int, PTree] = {}
        self._in_progress: list[str] = []
        self._lineages: dict[str, set[str] | None] = {}
        self._resources: dict[str, bool] = {}

    def ensure_snapshot(self, sd: dict[str, Any]) -> dict[str, Any]:
        """Return sd itself if it already has a snapshot, else a new dict with a generated snapshot.

        The input is never modified. The base definition is resolved through the resolver and its own
        snapshot generated first if it has none. Results are cached by ``url|version``.

        Raises:
            ProfileError: unknown base, circular derivation, or a differential the base does not allow.
        """
        if _has_snapshot(sd):
            return sd
        key = f"{sd.get('url')}|{sd.get('version') or ''}" if sd.get("url") else f"#{id(sd)}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if key in self._in_progress:
            chain = " -> ".join([*self._in_progress[self._in_progress.index(key) :], key])
            raise ProfileError(f"Circular snapshot generation: {chain}")
        self._in_progress.append(key)
        try:
            base_url = sd.get("baseDefinition")
            if not isinstance(base_url, str) or not base_url:
                raise ProfileError(f"StructureDefinition {_label(sd)} has no snapshot and no baseDefinition.")
            base = self._resolver.resolve(base_url, "StructureDefinition")
            if base is None:
                raise ProfileError(f"StructureDefinition {_label(sd)}: unknown base definition {base_url}.")
            result = self.generate(sd, self.ensure_snapshot(base))
        finally:
            self._in_progress.pop()
        if sd.get("url"):
            self._cache[key] = result
        return result

    def generate(self, sd: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``sd`` with a snapshot generated from its differential over ``base``'s snapshot.

        Raises:
            ProfileError: the differential cannot be applied to the base.
        """
        if sd.get("derivation") == "specialization":
            raise ProfileError(
                f"StructureDefinition {_label(sd)}: snapshot generation for specializations is not supported."
            )
        if sd.get("type") and base.get("type") and sd["type"] != base["type"]:
            raise ProfileError(
                f"StructureDefinition {_label(sd)} constrains type {sd['type']} but its base "
                f"{_label(base)} defines {base['type']}."
            )
        elements = _Builder(self, sd, base).build()
        out = {k: clone(v) for k, v in sd.items() if k != "snapshot"}
        out["snapshot"] = {"element": elements}
        known = {m.get("uri") for m in out.get("mapping") or []}
        extra = [clone(m) for m in base.get("mapping") or [] if m.get("uri") not in known]
        if extra:
            out["mapping"] = (out.get("mapping") or []) + extra
        return {k: out[k] for k in sorted(out, key=lambda k: _SD_RANK.get(k, len(_SD_RANK)))}

    # ------------------------------------------------------------ lookups (used by _Builder)

    def tree(self, sd: dict[str, Any]) -> PTree:
        tree = self._trees.get(id(sd))
        if tree is None or tree.sd is not sd:
            tree = PTree(sd)
            self._trees[id(sd)] = tree
        return tree

    def find_structure(self, url: str) -> dict[str, Any] | None:
        return self._resolver.resolve(url, "StructureDefinition")

    def structure(self, url: str, what: str) -> PTree:
        sd = self._resolver.resolve(url, "StructureDefinition")
        if sd is None:
            raise ProfileError(f"{what}: unknown StructureDefinition {url}.")
        return self.tree(self.ensure_snapshot(sd))

    def lineage(self, url: str) -> set[str] | None:
        """``url``, its type's core URL and every base definition it derives from; None if unknown."""
        if url in self._lineages:
            return self._lineages[url]
        sd = self._resolver.resolve(url, "StructureDefinition")
        result: set[str] | None = None
        if sd is not None:
            result = {url}
            for _ in range(32):
                if sd.get("type"):
                    result.add(CORE_SD + str(sd["type"]))
                base_url = sd.get("baseDefinition")
                if not isinstance(base_url, str) or base_url.split("|")[0] in result:
                    break
                result.add(base_url.split("|")[0])
                next_sd = self._resolver.resolve(base_url, "StructureDefinition")
                if next_sd is None:
                    break
                sd = next_sd
        self._lineages[url] = result
        return result

    def is_resource(self, code: str) -> bool:
        if code not in self._resources:
            sd = self._resolver.resolve(CORE_SD + code, "StructureDefinition")
            self._resources[code] = sd is not None and sd.get("kind") == "resource"
        return self._resources[code]


class _Builder:
    """The state of one snapshot generation."""

    def __init__(self, gen: SnapshotGenerator, sd: dict[str, Any], base: dict[str, Any]) -> None:
        self.gen = gen
        self.sd = sd
        self.url = _label(sd)
        self.base_tree = gen.tree(base)
        self.root = Node.copy_of(self.base_tree.root, None)
        exts = [e for e in self.root.ed.get("extension") or [] if e.get("url") not in _NOT_INHERITED]
        if exts:
            self.root.ed["extension"] = exts
        else:
            self.root.ed.pop("extension", None)
        self.merger = Merger(self.url, gen.lineage, gen.is_resource)
        self.sliced: list[Node] = []
        self.kludge: list[Node] = []

    def fail(self, where: str, why: str) -> ProfileError:
        return self.merger.fail(where, why)

    def build(self) -> list[dict[str, Any]]:
        diff = (self.sd.get("differential") or {}).get("element") or []
        keys: list[_Key] = []
        prev: _Key | None = None
        for i, d in enumerate(diff):
            if not isinstance(d, dict) or not isinstance(d.get("path"), str) or not d["path"]:
                raise ProfileError(f"Profile {self.url}: differential element {i} has no path.")
            prev = self._key(d, prev)
            keys.append(prev)
        # Parents before children, so that a type or profile set on an element is known before
        # its children are unfolded; the sort is stable, so slices keep the differential order.
        for i in sorted(range(len(diff)), key=lambda j: len(keys[j])):
            try:
                node = self._locate(keys[i], diff[i], is_last=i == len(diff) - 1)
                self._apply(node, diff[i])
            except (TypeError, AttributeError, ValueError, KeyError) as exc:
                where = diff[i].get("id") or diff[i]["path"]
                why = f"{type(exc).__name__}: {exc}"
                msg = f"Profile {self.url}: differential element '{where}' is malformed ({why})"
                raise ProfileError(msg) from exc
        self._finish()
        return flatten(self.root)

    # ---------------------------------------------------------------- keys

    def _key(self, d: dict[str, Any], prev: _Key | None) -> _Key:
        """The (name, slice name) segments that identify a differential element."""
        names = str(d["path"]).split(".")
        key: _Key | None = None
        eid = d.get("id")
        if isinstance(eid, str) and eid:
            segs = eid.split(".")
            if len(segs) == len(names):
                key = []
                for seg, pname in zip(segs, names, strict=True):
                    name, _, slice_name = seg.partition(":")
                    if name != pname and not (name.endswith("[x]") and pname.startswith(name[:-3])):
                        key = None
                        break
                    key.append((name, slice_name or None))
        if key is None:
            # No usable id: the element continues the slices of the one before it (differential order).
            key = [(n, None) for n in names]
            if prev is not None:
                for i in range(len(names) - 1):
                    if i >= len(prev) or prev[i][0] != names[i]:
                        break
                    key[i] = prev[i]
        diff_slice = d.get("sliceName")
        if diff_slice and key[-1][1] != diff_slice:
            if key[-1][1] is not None:
                raise ProfileError(
                    f"Profile {self.url}: differential element '{eid}' has sliceName '{diff_slice}' "
                    "that does not match its id."
                )
            key[-1] = (key[-1][0], str(diff_slice))
        return key

    # ----------------------------------------------------------- navigation

    def _locate(self, key: _Key, d: dict[str, Any], *, is_last: bool) -> Node:
        where = str(d.get("id") or d["path"])
        if key[0][0] != self.root.name or key[0][1]:
            raise self.fail(where, f"does not start with the constrained type '{self.root.name}'")
        node = self.root
        for name, slice_name in key[1:]:
            child = self._child(node, name, where)
            if child.name != name and slice_name:
                raise self.fail(where, f"a renamed choice element ('{name}') cannot be sliced")
            node = child
            if slice_name:
                node = self._slice(node, slice_name, where, is_last=is_last)
        return node

    def _child(self, node: Node, name: str, where: str) -> Node:
        if not node.children:
            self._unfold(node, name, where)
        for k in node.children:
            if k.name == name:
                return k
        for k in node.children:
            stem = k.name[:-3]
            if k.name.endswith("[x]") and name.startswith(stem) and len(name) > len(stem):
                suffix = name[len(stem) :]
                for t in k.ed.get("type") or []:
                    if choice_suffix(type_code(t)) == suffix:
                        return self._choice(k, name, t, where)
                allowed = ", ".join(type_code(t) for t in k.ed.get("type") or [])
                raise self.fail(where, f"type {suffix} is not allowed for {k.label()} (allowed: {allowed})")
        raise self.fail(where, f"no element '{name}' under '{node.label()}' in base {self.base_tree.label}")

    def _choice(self, choice: Node, name: str, t: dict[str, Any], where: str) -> Node:
        """A renamed choice element: a type slice, or the choice narrowed in place inside a slice."""
        if self._in_slice(choice):
            choice.ed["type"] = [clone(t)]
            return choice
        return self._slice(choice, name, where, is_last=False, type_entry=t)

    @staticmethod
    def _in_slice(node: Node) -> bool:
        p = node.parent
        while p is not None:
            if p.type_boundary:
                return False
            if p.is_slice:
                return True
            p = p.parent
        return False

    def _slice(
        self,
        node: Node,
        slice_name: str,
        where: str,
        *,
        is_last: bool,
        type_entry: dict[str, Any] | None = None,
    ) -> Node:
        parts = slice_name.split("/")
        owner = node
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            found = next((s for s in owner.slices if s.slice_name == prefix), None)
            if found is None:
                raise self.fail(where, f"re-slice '{slice_name}' of an unknown slice '{prefix}'")
            owner = found
        existing = next((s for s in owner.slices if s.slice_name == slice_name), None)
        if existing is not None:
            return existing
        base_slicing = node.origin.ed.get("slicing")
        if owner is node and base_slicing and base_slicing.get("rules") == "closed":
            raise self.fail(where, f"cannot add slice '{slice_name}': the base slicing is closed")
        new = Node.copy_of(owner.origin, node.parent, with_slices=False)
        new.ed.pop("slicing", None)
        new.ed["sliceName"] = slice_name
        new.is_slice = True
        if owner is not node and owner.ed.get("type") != new.ed.get("type"):
            new.ed["type"] = clone(owner.ed.get("type"))
        if type_entry is None and node.name.endswith("[x]") and slice_name.startswith(node.name[:-3]):
            suffix = slice_name[len(node.name) - 3 :]
            types = node.ed.get("type") or []
            type_entry = next((t for t in types if choice_suffix(type_code(t)) == suffix), None)
        if type_entry is not None:
            new.ed["type"] = [clone(type_entry)]
        owner.slices.append(new)
        if owner is node and node not in self.sliced:
            self.sliced.append(node)
        if owner is node and base_slicing and not is_last:
            self.kludge.append(new)
        return new

    def _unfold(self, node: Node, name: str, where: str) -> None:
        """Give a leaf element the children of its datatype, profile or referenced content."""
        ed = node.ed
        ref = ed.get("contentReference")
        if isinstance(ref, str) and ref:
            target = self._content_target(node, ref, where)
            node.set_children_from(target)
            del ed["contentReference"]
            ed["type"] = clone(target.ed.get("type") or [{"code": "BackboneElement"}])
            return
        types = ed.get("type") or []
        if not types:
            raise self.fail(where, f"{node.label()} has no type, so it has no children to constrain")
        codes = {str(t.get("code")) for t in types}
        if len(codes) > 1:
            if name not in ("id", "extension"):
                raise self.fail(
                    where,
                    f"{node.label()} has several types ({', '.join(sorted(codes))}); "
                    "constrain one type before its children",
                )
            node.set_children_from(self.gen.structure(CORE_SD + "Element", where).root)
            return
        code = codes.pop()
        if code.startswith(_NO_CHILDREN_PREFIX):
            raise self.fail(where, f"{node.label()} is a primitive value ({code}) and has no children")
        profiles = types[0].get("profile") or [] if len(types) == 1 else []
        if profiles and code not in ("Reference", "canonical"):
            tree = self.gen.structure(str(profiles[0]), f"Profile {self.url}, element '{where}'")
        else:
            url = code if "://" in code else CORE_SD + code
            tree = self.gen.structure(url, f"Profile {self.url}, element '{where}'")
        node.set_children_from(tree.root)

    def _content_target(self, node: Node, ref: str, where: str) -> PNode:
        url, _, frag = ref.partition("#")
        tree = self.gen.structure(url, where) if url else node.origin.tree
        target = tree.by_id.get(frag)
        if target is None and not url and "." in frag:
            target = self.gen.structure(CORE_SD + frag.split(".")[0], where).by_id.get(frag)
        if target is None:
            raise self.fail(where, f"cannot resolve contentReference {ref}")
        return target

    # -------------------------------------------------------------- merging

    def _apply(self, node: Node, d: dict[str, Any]) -> None:
        where = node.label()
        node.touched = True
        created = node.is_slice and node.origin.ed.get("sliceName") != node.slice_name
        template = None
        profile = self._type_profile(node.ed) if node.is_slice else None
        profile = profile or self._type_profile(d)
        psd = self.gen.find_structure(profile) if profile else None
        if psd is not None:
            tree = self.gen.tree(self.gen.ensure_snapshot(psd))
            template = dict(tree.root.ed)
            if created and node.origin.ed.get("slicing"):
                template.pop("constraint", None)  # a new slice of a sliced base keeps the base's invariants
            else:
                template["constraint"] = [
                    {**c, "source": c.get("source", tree.label)} for c in template.get("constraint") or []
                ]
        if "slicing" in d:
            base_slicing = None if created else node.origin.ed.get("slicing")
            merge_slicing(node.ed, base_slicing, d["slicing"], lambda why: self.fail(where, why))
        self.merger.merge(
            node.ed, d, where, is_slice=node.is_slice, is_extension=node.is_extension(), template=template
        )
        if node.parent is None:
            node.ed.pop("requirements", None)  # sdf-9

    @staticmethod
    def _is_type_slice(choice: Node, s: Node) -> bool:
        stem = choice.name[:-3]
        codes = {choice_suffix(type_code(t)) for t in choice.ed.get("type") or []}
        name = s.slice_name or ""
        return name.startswith(stem) and name[len(stem) :] in codes

    @staticmethod
    def _type_profile(ed: dict[str, Any]) -> str | None:
        types = ed.get("type") or []
        if len(types) == 1 and types[0].get("code") not in ("Reference", "canonical"):
            profiles = types[0].get("profile") or []
            if profiles:
                return str(profiles[0])
        return None

    def _finish(self) -> None:
        for root in self.sliced:
            ed = root.ed
            if "slicing" not in ed:
                if root.name in EXTENSION_NAMES:
                    ed["slicing"] = clone(_EXTENSION_SLICING)
                elif root.name.endswith("[x]") and all(self._is_type_slice(root, s) for s in root.slices):
                    ed["slicing"] = clone(_TYPE_SLICING)
                elif len(root.slices) == 1 and not root.touched and root.parent is not None:
                    # One named "slice" and no slicing only names the element (as R3 profiles did).
                    siblings = root.parent.children
                    siblings[siblings.index(root)] = root.slices[0]
                    continue
                else:
                    names = ", ".join(str(s.slice_name) for s in root.slices)
                    raise self.fail(root.label(), f"slices ({names}) are defined but it has no slicing")
                if root.name in EXTENSION_NAMES and not root.touched:
                    ed["short"] = "Extension"
                    ed["definition"] = "An Extension"
                    for k in ("comment", "requirements", "alias", "mapping"):
                        ed.pop(k, None)
            slicing = ed["slicing"]
            if (
                root.name.endswith("[x]")
                and slicing.get("rules") == "closed"
                and [(x.get("type"), x.get("path")) for x in slicing.get("discriminator") or []]
                == [("type", "$this")]
            ):
                codes = {type_code(t) for s in root.slices for t in s.ed.get("type") or []}
                kept = [t for t in ed.get("type") or [] if type_code(t) in codes]
                if kept:
                    ed["type"] = kept
        for node in self.kludge:
            types = node.ed.get("type") or []
            if len(types) != 1 or types[0].get("code") != "Extension" or node.children:
                continue
            profile = self._type_profile(node.ed)
            if profile is None or self.gen.find_structure(profile) is not None:
                self._unfold(node, "", node.label())


def generate_snapshot(
    sd: dict[str, Any], base_snapshot_sd: dict[str, Any], resolver: CanonicalResolver
) -> dict[str, Any]:
    """A copy of ``sd`` with a snapshot generated over ``base_snapshot_sd`` (which must have one).

    Raises:
        ProfileError: the base has no snapshot, or the differential cannot be applied to it.
    """
    if not _has_snapshot(base_snapshot_sd):
        raise ProfileError(f"Base {_label(base_snapshot_sd)} of {_label(sd)} has no snapshot.")
    return SnapshotGenerator(resolver).generate(sd, base_snapshot_sd)
