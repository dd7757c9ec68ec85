"""Everything the FHIR validator needs, wired once: packages, snapshots, terminology, FHIRPath, XML."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

from testbed.core.settings import load_settings
from testbed.fhir.fhirpath import FhirPathEngine
from testbed.fhir.snapshot import SnapshotGenerator
from testbed.fhir.structure import SD_BASE, CompiledStructure, compile_structure
from testbed.fhir.xml import FhirXmlConverter
from testbed.identifiers import IdentifierRules
from testbed.packages import PackageRegistry
from testbed.terminology import TerminologyService

log = logging.getLogger(__name__)

_CACHE_FORMAT = 6


class FhirContext:
    """Loaded conformance content plus the engines that use it; build once, validate many times.

    Example:
        ```python
        ctx = FhirContext.create(["profiles/ma.smr.core"])
        sd = ctx.structure("https://fhir.smr.ma/StructureDefinition/ma-patient")
        ```
    """

    def __init__(self, registry: PackageRegistry, *, cache_dir: Path | None = None) -> None:
        self.registry = registry
        self.snapshots = SnapshotGenerator(registry)
        self.terminology = TerminologyService(registry)
        self.xml = FhirXmlConverter(registry)
        registry.set_xml_reader(self.xml.to_json)
        self.fhirpath = FhirPathEngine(member_of=self._member_of)
        self._structures: dict[str, CompiledStructure | None] = {}
        self._ancestors: dict[str, tuple[str, ...]] = {}
        self._by_type: dict[str, CompiledStructure | None] = {}
        self._identifiers: IdentifierRules | None = None
        self._regexes: dict[str, str | None] = {}
        self._resource_types: dict[str, bool] = {}
        self._cache_dir = cache_dir
        self._dirty = False
        self._disk: dict[str, CompiledStructure] = {}
        if cache_dir is not None:
            self._disk = self._read_disk_cache()

    @classmethod
    def create(
        cls, ig_paths: list[str | Path] | tuple[str | Path, ...] = (), *, cache_dir: Path | None = None
    ) -> FhirContext:
        """Load the R4 core package and the given IG packages, folders or files.

        Raises:
            PackageError: an IG path cannot be loaded.
        """
        settings = load_settings()
        cache = cache_dir or settings.cache_dir
        registry = PackageRegistry(cache_dir=cache)
        ctx = cls(registry, cache_dir=cache)
        registry.load_core()
        for path in ig_paths:
            registry.load(path)
        ctx._disk = ctx._read_disk_cache()
        return ctx

    @property
    def identifiers(self) -> IdentifierRules:
        """Identifier rules (patterns, check digits) declared by the loaded NamingSystems."""
        if self._identifiers is None:
            self._identifiers = IdentifierRules.from_registry(self.registry)
        return self._identifiers

    # ------------------------------------------------------------ structures

    def structure(self, canonical: str) -> CompiledStructure | None:
        """The compiled StructureDefinition for a canonical (snapshot generated if needed), or None."""
        if canonical in self._structures:
            return self._structures[canonical]
        compiled = self._disk.get(canonical)
        if compiled is None:
            sd = self.registry.resolve(canonical, "StructureDefinition")
            if sd is None:
                self._structures[canonical] = None
                return None
            sd = self.snapshots.ensure_snapshot(sd)
            compiled = compile_structure(sd)
            self._dirty = True
        self._structures[canonical] = compiled
        return compiled

    def structure_for_type(self, type_code: str) -> CompiledStructure | None:
        """The base definition of a FHIR type (``Patient``, ``Quantity``, ``string``)."""
        try:
            return self._by_type[type_code]
        except KeyError:
            found = self.structure(type_code if "/" in type_code else SD_BASE + type_code)
            self._by_type[type_code] = found
            return found

    def is_resource_type(self, type_code: str) -> bool:
        """Whether a type code names a resource type of the loaded core."""
        known = self._resource_types.get(type_code)
        if known is None:
            s = self.structure_for_type(type_code)
            known = s is not None and s.kind == "resource" and s.derivation != "constraint"
            self._resource_types[type_code] = known
        return known

    def profile_type(self, canonical: str) -> str | None:
        """The type a profile constrains (``Patient`` for ma-patient), without compiling it if possible."""
        s = self.structure(canonical)
        return s.type if s is not None else None

    def type_ancestors(self, type_code: str) -> tuple[str, ...]:
        """Ancestor types (``Age`` → Quantity, Element; ``Patient`` → DomainResource, Resource)."""
        cached = self._ancestors.get(type_code)
        if cached is not None:
            return cached
        out: list[str] = []
        s = self.structure_for_type(type_code)
        while s is not None and s.base_definition and len(out) < 20:
            s = self.structure(s.base_definition)
            if s is not None:
                out.append(s.type)
        self._ancestors[type_code] = tuple(out)
        return self._ancestors[type_code]

    def primitive_regex(self, type_code: str) -> str | None:
        """The lexical regex of a primitive type, from its StructureDefinition."""
        if type_code in self._regexes:
            return self._regexes[type_code]
        s = self.structure_for_type(type_code)
        value = s.root.children.get("value") if s is not None else None
        regex = value.types[0].regex if value is not None and value.types else None
        self._regexes[type_code] = regex
        return regex

    # ------------------------------------------------------------ terminology bridge

    def _member_of(self, coded: Any, value_set: str) -> bool | None:
        if isinstance(coded, str):
            return self.terminology.validate_code(value_set, system=None, code=coded).valid
        if isinstance(coded, dict):
            if "coding" in coded:
                return self.terminology.validate_codings(value_set, coded.get("coding") or []).valid
            if "code" in coded:
                return self.terminology.validate_code(
                    value_set, system=coded.get("system"), code=str(coded["code"])
                ).valid
        return None

    # ------------------------------------------------------------ disk cache

    def _cache_file(self) -> Path | None:
        if self._cache_dir is None:
            return None
        return (
            self._cache_dir / "compiled" / f"structures-{_CACHE_FORMAT}-{self.registry.fingerprint()}.pickle"
        )

    def _read_disk_cache(self) -> dict[str, CompiledStructure]:
        path = self._cache_file()
        if path is None or not path.is_file():
            return {}
        try:
            with path.open("rb") as fh:
                data = pickle.load(fh)
            return data if isinstance(data, dict) else {}
        except Exception as exc:  # noqa: BLE001 - a broken cache is rebuilt, never fatal
            log.info("ignoring unreadable cache %s: %s", path, exc)
            return {}

    def save_cache(self) -> None:
        """Persist compiled structures so that the next process starts fast (best effort)."""
        path = self._cache_file()
        if path is None or not self._dirty:
            return
        merged = dict(self._disk)
        merged.update({k: v for k, v in self._structures.items() if v is not None})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{id(self)}")
            with tmp.open("wb") as fh:
                pickle.dump(merged, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
            self._dirty = False
        except (OSError, pickle.PicklingError, RecursionError) as exc:
            log.info("could not write cache %s: %s", path, exc)
