"""The FHIR R4 validator: walks a resource against StructureDefinitions and reports issues.

Verdicts come from the StructureDefinitions (base R4 and profiles), the terminology service and
FHIRPath invariants; nothing is hard-coded per resource type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from testbed.core.issues import Issue, IssueCode, Severity, ValidationOutcome
from testbed.fhir._fhirpath_native import NativeCheck, ele_1
from testbed.fhir._run import Run
from testbed.fhir.bundles import check_bundle, index_bundle
from testbed.fhir.context import FhirContext
from testbed.fhir.matching import matches_pattern, values_equal
from testbed.fhir.primitives import PRIMITIVE_TYPES, check_primitive, describe, is_primitive
from testbed.fhir.references import check_reference
from testbed.fhir.slicing import SliceMatcher
from testbed.fhir.structure import CompiledStructure, Constraint, ElementDef, TypeRef
from testbed.fhir.xml import XmlFormatError

E, W = Severity.ERROR, Severity.WARNING
_Planned = tuple[Constraint, "NativeCheck | None"]
CODED_TYPES = frozenset({"code", "Coding", "CodeableConcept", "Quantity", "string", "uri"})
_MAX_DEPTH = 64


class FhirValidator:
    """Validates FHIR R4 resources (JSON objects) against the base specification and profiles.

    Example:
        ```python
        ctx = FhirContext.create()
        outcome = FhirValidator(ctx).validate(patient_dict)
        assert outcome.valid, outcome.errors()
        ```
    """

    def __init__(self, ctx: FhirContext) -> None:
        self.ctx = ctx
        self._slices = SliceMatcher(self)
        self._plans: dict[tuple[int, int], tuple[_Planned, ...]] = {}
        self._plan_owners: list[tuple[ElementDef, ElementDef | None]] = []  # keeps ids in _plans alive

    # ------------------------------------------------------------------ entry points

    def validate(
        self, resource: Any, *, profiles: Sequence[str] = (), label: str = "resource"
    ) -> ValidationOutcome:
        """Validate one resource given as a parsed JSON object.

        Args:
            resource: The resource (a dict as ``json.loads`` returns it).
            profiles: Canonical URLs of profiles to check besides those in ``meta.profile``.
            label: What to call the input in the outcome.
        """
        if not isinstance(resource, dict):
            return ValidationOutcome.fatal(
                label, "fhir", f"The content is {describe(resource)}, not a FHIR resource (a JSON object)."
            )
        outcome = ValidationOutcome(source=label, standard="fhir")
        rtype = resource.get("resourceType")
        path = rtype if isinstance(rtype, str) else "$this"
        run = Run(root=resource, resource=resource, resource_path=path, container=resource)
        self.validate_resource(run, resource, path, tuple(profiles))
        outcome.issues.extend(run.issues)
        outcome.versions.update(self.ctx.registry.versions())
        outcome.versions.update(run.versions)
        return outcome

    def validate_json_text(
        self, text: str | bytes, *, profiles: Sequence[str] = (), label: str = "resource"
    ) -> ValidationOutcome:
        """Parse JSON (refusing duplicate keys) and validate it."""
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except _DuplicateKey as exc:
            return ValidationOutcome.fatal(
                label, "fhir", f"The JSON has the property '{exc.key}' twice in one object."
            )
        except (ValueError, UnicodeDecodeError) as exc:
            return ValidationOutcome.fatal(label, "fhir", f"The content is not valid JSON: {exc}.")
        except RecursionError:
            return ValidationOutcome.fatal(
                label, "fhir", "The JSON is nested too deeply to be a FHIR resource."
            )
        return self.validate(data, profiles=profiles, label=label)

    def validate_xml_text(
        self, data: bytes, *, profiles: Sequence[str] = (), label: str = "resource"
    ) -> ValidationOutcome:
        """Convert FHIR XML to JSON (structure errors become fatal issues) and validate it."""
        try:
            resource = self.ctx.xml.to_json(data, label)
        except XmlFormatError as exc:
            outcome = ValidationOutcome(source=label, standard="fhir")
            for p in exc.problems:
                where = f" (line {p.line}{f', column {p.column}' if p.column else ''})" if p.line else ""
                outcome.issues.append(
                    Issue(
                        Severity.FATAL, IssueCode.STRUCTURE, p.expression or p.location, f"{p.message}{where}"
                    )
                )
            return outcome
        except ValueError as exc:
            return ValidationOutcome.fatal(label, "fhir", f"The FHIR XML cannot be read: {exc}")
        return self.validate(resource, profiles=profiles, label=label)

    def conforms(self, value: Any, profile: str, run: Run, path: str) -> bool:
        """Whether a value conforms to a profile (issues are not recorded)."""
        structure = self.ctx.structure(profile)
        if structure is None:
            return False
        key = (id(value), profile)
        if key in run.in_progress:
            return True  # a cycle of references: assume conformance (coinductive), as the HL7 validator does
        run.in_progress.add(key)
        trial = run.child()
        try:
            if structure.kind == "resource" and isinstance(value, dict) and "resourceType" in value:
                self.validate_resource(trial, value, path, (profile,), only_given=True)
            else:
                self.complex(trial, value, structure.root, structure, path, structure.type)
        finally:
            run.in_progress.discard(key)
        return not trial.has_errors()

    # ------------------------------------------------------------------ resources

    def validate_resource(
        self,
        run: Run,
        res: dict[str, Any],
        path: str,
        extra: tuple[str, ...],
        *,
        only_given: bool = False,
        contained: bool = False,
    ) -> None:
        """Validate a (possibly nested) resource against its base type and profiles.

        ``contained`` resources keep their container as ``%rootResource``; any other nested resource
        (a Bundle entry, a Parameters resource) is its own root.
        """
        rtype = res.get("resourceType")
        if not isinstance(rtype, str):
            run.add(E, IssueCode.STRUCTURE, path, "The resource has no 'resourceType' property.")
            return
        base = self.ctx.structure_for_type(rtype)
        if base is None or base.kind != "resource":
            run.add(E, IssueCode.STRUCTURE, path, f"'{rtype}' is not a FHIR R4 resource type.")
            return
        if run.depth > _MAX_DEPTH:
            run.add(E, IssueCode.TOO_COSTLY, path, "Resources are nested too deeply to validate.")
            return
        saved = (run.resource, run.resource_path, run.bundle, run.container)
        run.resource, run.resource_path = res, path
        if not contained:
            run.container = res
        if rtype == "Bundle":
            run.bundle = index_bundle(res)
        run.depth += 1
        try:
            structures = self._structures_for(run, res, rtype, path, extra, only_given)
            for structure in structures or [base]:
                self.complex(run, res, structure.root, structure, path, rtype, is_resource=True)
            if rtype == "Bundle":
                check_bundle(self, run, res, path)
        finally:
            run.depth -= 1
            run.resource, run.resource_path, run.bundle, run.container = saved

    def _structures_for(
        self, run: Run, res: dict[str, Any], rtype: str, path: str, extra: tuple[str, ...], only_given: bool
    ) -> list[CompiledStructure]:
        meta = res.get("meta")
        declared = meta.get("profile") if isinstance(meta, dict) and not only_given else None
        urls: list[tuple[str, str, bool]] = []  # (canonical, location, asked for by the caller)
        if isinstance(declared, list):
            urls.extend(
                (u, f"{path}.meta.profile[{i}]", False) for i, u in enumerate(declared) if isinstance(u, str)
            )
        urls.extend((u, path, True) for u in extra)
        out: list[CompiledStructure] = []
        for url, where, asked in urls:
            structure = self.ctx.structure(url)
            if structure is None:
                run.add(
                    E if asked else W,
                    IssueCode.NOT_FOUND,
                    where,
                    f"Profile '{url}' is not defined by any loaded package, so the resource was not checked "
                    "against it.",
                )
                continue
            run.versions[structure.url] = structure.version or ""
            if structure.type != rtype:
                run.add(
                    E,
                    IssueCode.STRUCTURE,
                    where,
                    f"Profile '{url}' constrains {structure.type}, but this resource is a {rtype}.",
                )
                continue
            if structure not in out:
                out.append(structure)
        return out

    # ------------------------------------------------------------------ complex values

    def complex(
        self,
        run: Run,
        value: Any,
        elem: ElementDef,
        struct: CompiledStructure,
        path: str,
        type_code: str,
        *,
        is_resource: bool = False,
    ) -> None:
        """Validate a JSON object against an element (its children, or its type's definition)."""
        if not isinstance(value, dict):
            run.add(
                E,
                IssueCode.STRUCTURE,
                path,
                f"This element must be a JSON object ({type_code}), not {describe(value)}.",
            )
            return
        owner, owner_struct = self._children_owner(elem, struct, type_code)
        if owner is None:
            run.add(
                W,
                IssueCode.NOT_SUPPORTED,
                path,
                f"No definition found for type '{type_code}'; its content was not checked.",
            )
            return
        self.walk(run, value, owner, owner_struct, path, type_code, elem.path, is_resource=is_resource)
        type_root: ElementDef | None = owner if owner is not elem else None
        if type_root is None and not is_resource and type_code not in ("BackboneElement", "Element"):
            type_struct = self.ctx.structure_for_type(type_code)
            type_root = type_struct.root if type_struct is not None and type_struct.root is not elem else None
        fp_type = owner.path if type_code in ("BackboneElement", "Element") else type_code
        self._constraints(run, value, None, elem, fp_type, path, type_root=type_root)

    def walk(
        self,
        run: Run,
        value: dict[str, Any],
        owner: ElementDef,
        owner_struct: CompiledStructure,
        path: str,
        host_type: str,
        host_def_path: str,
        *,
        is_resource: bool = False,
    ) -> None:
        """Check the properties of a JSON object against the children of ``owner``."""
        present = self._sort_properties(run, value, owner, path, is_resource)
        for child in owner.required_children():
            if child.id in present:
                continue
            if child.min > 0:
                run.add(
                    E,
                    IssueCode.REQUIRED,
                    path,
                    f"'{_display_name(child)}' is required (minimum {child.min}) but is missing.",
                    child.id,
                    child.requirements,
                )
            for s in child.slices:
                if s.min > 0:
                    run.add(
                        E,
                        IssueCode.REQUIRED,
                        f"{path}.{child.name}",
                        f"Slice '{s.slice_name}' requires at least {s.min} item(s), found 0.",
                        s.id,
                        s.requirements,
                    )
        run.hosts.append((path, host_type, value, host_def_path))
        try:
            for child, entries in present.values():
                self._child(run, value, child, entries, owner_struct, path)
        finally:
            run.hosts.pop()

    def _children_owner(
        self, elem: ElementDef, struct: CompiledStructure, type_code: str
    ) -> tuple[ElementDef | None, CompiledStructure]:
        if elem.children:
            return elem, struct
        if elem.content_reference:
            target = struct.by_id.get(elem.content_reference.lstrip("#").split("#")[-1])
            if target is None:
                base = self.ctx.structure_for_type(struct.type)
                target = base.by_id.get(elem.content_reference.split("#")[-1]) if base else None
            if target is not None:
                return target, struct
        type_struct = self.ctx.structure_for_type(type_code)
        if type_struct is None:
            return None, struct
        return type_struct.root, type_struct

    def _sort_properties(
        self, run: Run, value: dict[str, Any], owner: ElementDef, path: str, is_resource: bool
    ) -> dict[str, tuple[ElementDef, list[tuple[str, TypeRef | None]]]]:
        keys = owner.json_keys()
        present: dict[str, tuple[ElementDef, list[tuple[str, TypeRef | None]]]] = {}
        for key in value:
            if is_resource and key == "resourceType":
                continue
            name = key[1:] if key.startswith("_") else key
            hit = keys.get(name)
            if hit is None:
                message, rule = _unknown_message(key, owner)
                run.add(E, IssueCode.STRUCTURE, f"{path}.{key}", message, rule)
                continue
            child, tref = hit
            if key.startswith("_"):
                codes = [tref.code] if tref else [t.code for t in child.types]
                if not codes or not all(is_primitive(c) for c in codes):
                    run.add(
                        E,
                        IssueCode.STRUCTURE,
                        f"{path}.{key}",
                        f"'{key}' is only allowed beside a primitive element, and '{name}' is not one.",
                    )
                    continue
                if name in value:
                    continue
            slot = present.get(child.id)
            if slot is None:
                present[child.id] = (child, [(name, tref)])
            else:
                slot[1].append((name, tref))
        return present

    def _child(
        self,
        run: Run,
        value: dict[str, Any],
        child: ElementDef,
        entries: list[tuple[str, TypeRef | None]],
        struct: CompiledStructure,
        path: str,
    ) -> None:
        if child.is_choice and len(entries) > 1:
            names = ", ".join(n for n, _ in entries)
            run.add(
                E,
                IssueCode.STRUCTURE,
                path,
                f"Only one type of '{child.name}' may be given, found: {names}.",
                child.id,
            )
        if len(entries) == 1:
            name, tref = entries[0]
            items = self._items(run, value.get(name), value.get("_" + name), child, tref, path, name)
        else:
            items = []
            for name, tref in entries:
                items.extend(
                    self._items(run, value.get(name), value.get("_" + name), child, tref, path, name)
                )
        count = len(items)
        if count < child.min:
            run.add(
                E,
                IssueCode.REQUIRED,
                f"{path}.{_segment(child, entries[0][1])}",
                f"'{_display_name(child)}' must occur at least {child.min} time(s), found {count}.",
                child.id,
                child.requirements,
            )
        if child.max is not None and count > child.max:
            run.add(
                E,
                IssueCode.STRUCTURE,
                f"{path}.{_segment(child, entries[0][1])}",
                f"'{_display_name(child)}' may occur at most {child.max} time(s), found {count}.",
                child.id,
                child.requirements,
            )
        if child.slicing is not None:
            self._slices.process(
                run, items, child, struct, f"{path}.{_segment(child, entries[0][1], entries[0][0])}"
            )
        else:
            for item in items:
                self.item(run, item, child, struct)

    def _items(
        self, run: Run, raw: Any, ext: Any, child: ElementDef, tref: TypeRef | None, path: str, name: str
    ) -> list[tuple[Any, Any, TypeRef | None, str]]:
        seg = f"{path}.{_segment(child, tref, name)}"
        if ext is None and raw is not None:
            if not child.is_array and type(raw) is not list:
                return [(raw, None, tref, seg)]
            if child.is_array and type(raw) is list and raw and None not in raw:
                return [(v, None, tref, f"{seg}[{i}]") for i, v in enumerate(raw)]
        if child.is_array:
            if raw is not None and not isinstance(raw, list):
                run.add(
                    E,
                    IssueCode.STRUCTURE,
                    seg,
                    f"'{name}' repeats, so it must be a JSON array, not {describe(raw)}.",
                    child.id,
                )
                raw = [raw]
            if ext is not None and not isinstance(ext, list):
                run.add(
                    E, IssueCode.STRUCTURE, f"{path}._{name}", f"'_{name}' must be an array like '{name}'."
                )
                ext = [ext]
            values = raw or []
            exts = ext or []
            if (isinstance(raw, list) and not raw) or (isinstance(ext, list) and not ext):
                run.add(E, IssueCode.STRUCTURE, seg, "Arrays must not be empty; omit the property instead.")
            if raw and ext and len(raw) != len(exts):
                run.add(E, IssueCode.STRUCTURE, seg, f"'{name}' and '_{name}' must have the same length.")
            out = []
            for i in range(max(len(values), len(exts))):
                v = values[i] if i < len(values) else None
                x = exts[i] if i < len(exts) else None
                if v is None and x is None:
                    run.add(
                        E,
                        IssueCode.STRUCTURE,
                        f"{seg}[{i}]",
                        "A null in an array is only allowed when the matching '_' entry carries "
                        "an id or extension.",
                    )
                    continue
                out.append((v, x, tref, f"{seg}[{i}]"))
            return out
        if isinstance(raw, list):
            run.add(
                E,
                IssueCode.STRUCTURE,
                seg,
                f"'{name}' does not repeat (max 1), so it must not be an array.",
                child.id,
            )
            return [(v, None, tref, f"{seg}[{i}]") for i, v in enumerate(raw) if v is not None]
        if isinstance(ext, list):
            run.add(E, IssueCode.STRUCTURE, f"{path}._{name}", f"'_{name}' must not be an array.")
            ext = None
        if raw is None and ext is None:
            run.add(E, IssueCode.STRUCTURE, seg, "null is not a valid value; omit the property instead.")
            return []
        return [(raw, ext, tref, seg)]

    # ------------------------------------------------------------------ one occurrence

    def item(
        self,
        run: Run,
        item: tuple[Any, Any, TypeRef | None, str],
        elem: ElementDef,
        struct: CompiledStructure,
    ) -> None:
        """Validate one occurrence of an element (value, primitive extension, type, location)."""
        value, ext, tref, path = item
        if tref is None:
            if len(elem.types) == 1:
                tref = elem.types[0]
            elif not elem.types and (elem.children or elem.content_reference):
                self.complex(run, value, elem, struct, path, "BackboneElement")
                return
            else:
                run.add(
                    E, IssueCode.STRUCTURE, path, f"Cannot tell which type of '{elem.name}' is used.", elem.id
                )
                return
        code = tref.code
        if code in PRIMITIVE_TYPES:
            self._primitive(run, value, ext, elem, tref, struct, path)
        elif code == "Resource" or (code[0].isupper() and self.ctx.is_resource_type(code)):
            if not isinstance(value, dict):
                run.add(E, IssueCode.STRUCTURE, path, f"A resource is expected here, not {describe(value)}.")
                return
            self.validate_resource(run, value, path, tref.profiles, contained=elem.name == "contained")
        elif code == "Extension":
            self._extension(run, value, elem, tref, struct, path)
        else:
            self.complex(run, value, elem, struct, path, code)
            if not isinstance(value, dict):
                return  # reported by complex(); type-specific checks need an object
            if code == "Reference":
                check_reference(self, run, value, elem, tref, path)
            elif code == "Identifier":
                for issue in self.ctx.identifiers.check(
                    value.get("system"), value.get("value"), f"{path}.value"
                ):
                    run.add(
                        issue.severity,
                        issue.code,
                        issue.location,
                        issue.message,
                        issue.rule,
                        issue.requirements,
                    )
            if tref.profiles and code != "Reference":
                self._type_profiles(run, value, tref, path)
        if elem.fixed is not None or elem.pattern is not None:
            self._fixed_pattern(run, value, elem, path)
        if elem.binding_value_set and code in CODED_TYPES:
            self._binding(run, value, elem, code, path)

    def _primitive(
        self,
        run: Run,
        value: Any,
        ext: Any,
        elem: ElementDef,
        tref: TypeRef,
        struct: CompiledStructure,
        path: str,
    ) -> None:
        code = tref.code
        if value is not None:
            regex = tref.regex if tref.regex is not None else self.ctx.primitive_regex(code)
            problem = check_primitive(code, value, regex)
            if problem:
                run.add(E, IssueCode.VALUE, path, f"Invalid {code}: {problem}.", elem.id, elem.requirements)
            elif elem.max_length is not None and isinstance(value, str) and len(value) > elem.max_length:
                run.add(
                    E,
                    IssueCode.TOO_LONG,
                    path,
                    f"The value is {len(value)} characters long; at most {elem.max_length} are allowed.",
                    elem.id,
                )
        if ext is not None:
            type_struct = self.ctx.structure_for_type(code)
            if not isinstance(ext, dict):
                run.add(
                    E,
                    IssueCode.STRUCTURE,
                    path,
                    f"The '_' companion of a primitive must be a JSON object, not {describe(ext)}.",
                )
            elif type_struct is not None:
                self.walk(run, ext, type_struct.root, type_struct, path, code, elem.path)
        needed = elem.value_constraints
        if needed is None:
            needed = elem.value_constraints = self._value_plan(elem)
        if value is None or ext is not None or needed:
            self._constraints(run, value, ext, elem, code, path)

    def _extension(
        self, run: Run, value: Any, elem: ElementDef, tref: TypeRef, struct: CompiledStructure, path: str
    ) -> None:
        if not isinstance(value, dict):
            run.add(
                E, IssueCode.STRUCTURE, path, f"An extension must be a JSON object, not {describe(value)}."
            )
            return
        url = value.get("url")
        modifier = elem.name == "modifierExtension"
        definitions = list(tref.profiles)
        if not definitions and elem.slice_name and elem.children:
            self.complex(
                run, value, elem, struct, path, "Extension"
            )  # defined inline (complex extension part)
            return
        if not definitions and isinstance(url, str):
            definitions = [url]
        checked = False
        for profile in definitions:
            ext_struct = self.ctx.structure(profile)
            if ext_struct is None:
                continue
            checked = True
            run.versions[ext_struct.url] = ext_struct.version or ""
            if ext_struct.type != "Extension":
                run.add(
                    E,
                    IssueCode.STRUCTURE,
                    path,
                    f"'{profile}' is a {ext_struct.type} definition, not an extension.",
                )
                continue
            walk = elem if elem.children else ext_struct.root
            self.complex(
                run, value, walk, ext_struct if walk is ext_struct.root else struct, path, "Extension"
            )
            if walk is elem:
                self.complex(run, value, ext_struct.root, ext_struct, path, "Extension")
            self._check_context(run, ext_struct, path)
        if not checked:
            self.complex(run, value, elem, struct, path, "Extension")
            if isinstance(url, str):
                severity = E if modifier or self._in_known_namespace(url) else W
                run.add(
                    severity,
                    IssueCode.EXTENSION,
                    path,
                    f"Unknown extension '{url}': no loaded package defines it, so it cannot be checked"
                    + (" (an unknown modifier extension is never allowed)." if modifier else "."),
                )

    def _in_known_namespace(self, url: str) -> bool:
        """Whether a loaded package owns the URL's namespace (so a missing definition is a real error)."""
        return any(
            p.canonical and url.startswith(p.canonical.rstrip("/") + "/StructureDefinition/")
            for p in self.ctx.registry.packages
        )

    def _check_context(self, run: Run, ext_struct: CompiledStructure, path: str) -> None:
        if not ext_struct.contexts or not run.hosts:
            return
        host_loc, host_type, host_value, host_def = run.hosts[-1]
        host_path = run.element_path(host_loc)
        types = {host_type, *self.ctx.type_ancestors(host_type)}
        paths = {host_path, host_def, host_path + "[x]", host_def.replace("[x]", "")}
        for ctx_type, expr in ext_struct.contexts:
            if ctx_type == "element" and (expr in ("Element", "Base") or expr in types or expr in paths):
                return
            if (
                ctx_type == "extension"
                and host_type == "Extension"
                and isinstance(host_value, dict)
                and host_value.get("url") == expr
            ):
                return
            if ctx_type == "fhirpath":
                return
        allowed = ", ".join(e for _, e in ext_struct.contexts)
        run.add(
            E,
            IssueCode.EXTENSION,
            path,
            f"Extension '{ext_struct.url}' is not allowed on {host_path}: its context is {allowed}.",
            ext_struct.url,
        )

    def _type_profiles(self, run: Run, value: Any, tref: TypeRef, path: str) -> None:
        known = [p for p in tref.profiles if self.ctx.structure(p) is not None]
        if not known:
            run.add(
                W,
                IssueCode.NOT_FOUND,
                path,
                f"Profile(s) {', '.join(tref.profiles)} not found; the element was not checked against them.",
            )
            return
        if len(known) == 1:
            s = self.ctx.structure(known[0])
            assert s is not None
            self.complex(run, value, s.root, s, path, s.type)
            return
        if not any(self.conforms(value, p, run, path) for p in known):
            run.add(
                E,
                IssueCode.STRUCTURE,
                path,
                f"The element conforms to none of its profiles: {', '.join(known)}.",
            )

    # ------------------------------------------------------------------ values and rules

    def _fixed_pattern(self, run: Run, value: Any, elem: ElementDef, path: str) -> None:
        if elem.fixed is not None and not values_equal(value, elem.fixed[1]):
            run.add(
                E,
                IssueCode.VALUE,
                path,
                f"The value must be exactly {_json(elem.fixed[1])}, found {_json(value)}.",
                elem.id,
                elem.requirements,
            )
        if elem.pattern is not None and not matches_pattern(value, elem.pattern[1]):
            run.add(
                E,
                IssueCode.VALUE,
                path,
                f"The value must match the pattern {_json(elem.pattern[1])}, found {_json(value)}.",
                elem.id,
                elem.requirements,
            )

    def _binding(self, run: Run, value: Any, elem: ElementDef, code: str, path: str) -> None:
        from testbed.fhir.bindings import check_binding

        check_binding(self.ctx, run, value, elem, code, path)

    def _constraint_plan(self, elem: ElementDef, type_root: ElementDef | None) -> tuple[_Planned, ...]:
        key = (id(elem), id(type_root))
        plan = self._plans.get(key)
        if plan is None:
            constraints = elem.constraints
            if type_root is not None and type_root.constraints:
                keys = {c.key for c in constraints}
                constraints = constraints + tuple(c for c in type_root.constraints if c.key not in keys)
            engine = self.ctx.fhirpath
            plan = tuple((c, engine.native_check(c.expression)) for c in constraints if c.expression)
            self._plans[key] = plan
            self._plan_owners.append((elem, type_root))
        return plan

    def _value_plan(self, elem: ElementDef) -> bool:
        """Whether a primitive with a value (and no extension) still has constraints to evaluate.

        The only constraint most primitives carry is ele-1 ("hasValue() or children"), which a
        primitive holding a value satisfies by definition.
        """
        return any(native is not ele_1 for _, native in self._constraint_plan(elem, None))

    def _constraints(
        self,
        run: Run,
        value: Any,
        ext: Any,
        elem: ElementDef,
        type_code: str,
        path: str,
        *,
        type_root: ElementDef | None = None,
    ) -> None:
        plan = self._constraint_plan(elem, type_root)
        if not plan:
            return
        engine = self.ctx.fhirpath
        for c, native in plan:
            if native is not None:
                try:
                    if native(value, ext, run.resource, run.container, c.key) is True:
                        continue
                except Exception:  # noqa: BLE001 - check_constraint below reports the failure with its reason
                    pass
            assert c.expression is not None
            result = engine.check_constraint(
                c.key,
                c.expression,
                value,
                type_name=type_code,
                resource=run.resource,
                root_resource=run.container,
                extension=ext,
            )
            if result.ok is False:
                sev = W if c.severity == "warning" else E
                run.add(
                    sev,
                    IssueCode.INVARIANT,
                    path,
                    f"Constraint {c.key} failed: {c.human}",
                    c.key,
                    c.requirements or elem.requirements,
                )
            elif result.ok is None:
                run.add(
                    W,
                    IssueCode.NOT_SUPPORTED,
                    path,
                    f"Constraint {c.key} could not be evaluated ({result.reason}); it was not checked.",
                    c.key,
                )


def _display_name(elem: ElementDef) -> str:
    return f"{elem.name}:{elem.slice_name}" if elem.slice_name else elem.name


def _segment(child: ElementDef, tref: TypeRef | None, name: str | None = None) -> str:
    if child.is_choice:
        stem = child.name[:-3]
        return f"{stem}.ofType({tref.code})" if tref else stem
    return name or child.name


def _unknown_message(key: str, owner: ElementDef) -> tuple[str, str]:
    """Message and rule (the element whose definition does not allow the key) for an unknown property."""
    for child in owner.children.values():
        if child.is_choice and key.startswith(child.name[:-3]) and key[len(child.name) - 3 :][:1].isupper():
            allowed = ", ".join(t.code for t in child.types)
            return f"'{key}' is not a valid type for '{child.name}' (allowed: {allowed}).", child.id
    return f"Unknown element '{key}': it is not defined for {owner.path}.", owner.id


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:199] + "…"


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out
