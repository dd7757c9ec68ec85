"""The CDA content (``profiles/<folder>/cda.yaml``, ``schematron/``) rendered with the national names.

``cda.yaml`` and the schematron files are Jinja2 templates: template OIDs, identifier roots and value set
URLs are written from :class:`~testbed.national.NationalContent` (``root`` = the CDA template root,
``canonical``, ``oid_root``, ``realm``, ``ids`` = NamingSystem OIDs by engine key, ``oid`` = code system
OIDs by name), so the engine holds none of them. See ``profiles/ma.smr.cda/README.md``. It sits below
both the CDA validator and the synthetic CDA renderer so that the two read one model of the content.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from testbed.core.errors import PackageError
from testbed.core.settings import load_settings
from testbed.national import NationalContent
from testbed.packages import PackageRegistry

CONTENT_FILE = "cda.yaml"
_REQUIREMENT = re.compile(r"^[A-Z][A-Z0-9]*-[A-Z][A-Z0-9]*-\d{3}$")
STRENGTHS = ("required", "extensible", "preferred", "example")


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """A section template of a document type."""

    key: str
    template: str
    code: str
    display: str
    title: str
    required: bool
    entries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DocumentSpec:
    """A document type: its template, LOINC code, title, schematron file and sections."""

    key: str
    template: str
    code: str
    display: str
    title: str
    schematron: str
    sections: tuple[SectionSpec, ...]


@dataclass(frozen=True, slots=True)
class HeaderSpec:
    """The header template every MA document declares."""

    template: str
    title: str
    schematron: str
    confidentiality: tuple[str, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CodeSystemSpec:
    """A code system met in CDA ``@codeSystem``: its OID and the FHIR URI its codes are checked in."""

    oid: str
    uri: str
    name: str
    aliases: tuple[str, ...] = ()
    check_digit: str | None = None


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """A terminology binding of coded elements selected by an XPath."""

    name: str
    select: str
    value_set: str
    strength: str
    requirements: tuple[str, ...]
    system: str | None = None
    check_as: str | None = None
    translation: tuple[str, str, tuple[str, ...]] | None = None
    """(concept property, code system URI of the translation, requirement IDs), when declared."""


@dataclass(frozen=True, slots=True)
class CdaContent:
    """Everything the CDA engine reads from content, rendered for one set of national names."""

    folder: Path
    header: HeaderSpec
    documents: dict[str, DocumentSpec]
    code_systems: dict[str, CodeSystemSpec]
    bindings: tuple[BindingSpec, ...]
    requirements: dict[str, tuple[str, ...]]
    identifier_context: dict[str, dict[str, tuple[str, ...]]]
    variables: dict[str, Any]
    document_types: dict[str, str]

    @classmethod
    def load(cls, national: NationalContent, folder: Path | None = None) -> CdaContent:
        """Render and read ``cda.yaml`` of ``folder`` (default: the first ``profiles/`` folder holding one).

        Raises:
            PackageError: no content folder, or the file is malformed.
        """
        folder = folder or find_content_folder()
        path = folder / CONTENT_FILE
        variables = base_variables(national)
        try:
            text = _environment(folder).get_template(CONTENT_FILE).render(**variables)
            data = yaml.safe_load(text)
        except (OSError, jinja2.TemplateError, yaml.YAMLError) as exc:
            raise PackageError(f"{path}: cannot be read as the CDA content: {exc}") from None
        if not isinstance(data, dict):
            raise PackageError(f"{path}: expected a mapping at the top level.")
        try:
            return cls._build(folder, data, variables)
        except (KeyError, TypeError, ValueError) as exc:
            raise PackageError(f"{path}: malformed CDA content ({type(exc).__name__}: {exc}).") from None

    @classmethod
    def _build(cls, folder: Path, data: dict[str, Any], variables: dict[str, Any]) -> CdaContent:
        head = data["header"]
        header = HeaderSpec(
            str(head["template"]),
            str(head.get("title") or head["template"]),
            str(head["schematron"]),
            tuple(str(c) for c in head["confidentiality"]),
            tuple(str(c) for c in head["languages"]),
        )
        documents = {str(k): _document(str(k), v) for k, v in dict(data["documents"]).items()}
        systems = {}
        for raw in data.get("codeSystems") or []:
            spec = CodeSystemSpec(
                str(raw["oid"]),
                str(raw["uri"]),
                str(raw.get("name") or raw["uri"]),
                tuple(str(a) for a in raw.get("aliases") or ()),
                str(raw["checkDigit"]) if raw.get("checkDigit") else None,
            )
            systems[spec.oid] = spec
        bindings = tuple(_binding(b) for b in data.get("bindings") or [])
        reqs = {
            str(k): _ids(v)
            for k, v in dict(data.get("requirements") or {}).items()
            if k != "identifierContext"
        }
        context = {
            str(place): {str(key): _ids(ids) for key, ids in dict(by_key).items()}
            for place, by_key in dict((data.get("requirements") or {}).get("identifierContext") or {}).items()
        }
        variables = {**variables, "header": header, "documents": documents}
        variables["oid"] = {s.name: s.oid for s in systems.values()}
        link = {str(k): str(v) for k, v in dict(data.get("documentTypes") or {}).items()}
        return cls(folder, header, documents, systems, bindings, reqs, context, variables, link)

    def oid_of(self, system_uri: str) -> str | None:
        """The OID of a FHIR code system URI (or one of its aliases)."""
        for spec in self.code_systems.values():
            if system_uri == spec.uri or system_uri in spec.aliases:
                return spec.oid
        return None

    def schematron_sources(self) -> dict[str, tuple[str, str]]:
        """Rendered schematron text by the template OID it applies to: ``{oid: (file, text)}``."""
        env = _environment(self.folder)
        out: dict[str, tuple[str, str]] = {}
        jobs: list[tuple[str, str, dict[str, Any]]] = [(self.header.template, self.header.schematron, {})]
        jobs += [(d.template, d.schematron, {"doc": d}) for d in self.documents.values()]
        for template, name, extra in jobs:
            try:
                text = env.get_template(name).render(**self.variables, **extra)
            except (OSError, jinja2.TemplateError) as exc:
                raise PackageError(f"{self.folder / name}: cannot render the schematron: {exc}") from None
            out[template] = (str(self.folder / name), text)
        return out

    def document_type_drift(self, registry: PackageRegistry, national: NationalContent) -> list[str]:
        """Where ``documents`` disagrees with the document-type CodeSystem (LOINC, template properties).

        Empty when they agree, or when ``cda.yaml`` names no such CodeSystem or it is not loaded.
        """
        link = self.document_types
        if not link.get("role"):
            return []
        try:
            url = national.code_system_url(link["role"])
        except PackageError:
            return [f"cda.yaml documentTypes: no national code system has the role '{link['role']}'"]
        cs = registry.resolve(url)
        if cs is None:
            return []
        problems = []
        for concept in cs.get("concept") or []:
            code = str(concept.get("code"))
            props = {p.get("code"): p for p in concept.get("property") or []}
            loinc = (props.get(link.get("loincProperty")) or {}).get("valueCoding", {}).get("code")
            template = (props.get(link.get("templateProperty")) or {}).get("valueString")
            doc = self.documents.get(code)
            if doc is None:
                problems.append(f"document type {code} of {url} is missing from cda.yaml documents")
                continue
            if loinc and loinc != doc.code:
                problems.append(f"{code}: LOINC {doc.code} in cda.yaml, {loinc} in {url}")
            if template and template != doc.template:
                problems.append(f"{code}: template {doc.template} in cda.yaml, {template} in {url}")
        return problems

    def requirement_texts(self, registry: PackageRegistry | None) -> dict[str, str]:
        """Requirement texts by ID from the catalogue of the package declaring the national names."""
        if registry is None:
            return {}
        for info in registry.packages:
            if "national" not in info.testbed:
                continue
            source = Path(info.source)
            for candidate in (source / "requirements.csv", source / "package" / "requirements.csv"):
                if candidate.is_file():
                    with candidate.open(encoding="utf-8", newline="") as handle:
                        return {row["id"]: row["text"] for row in csv.DictReader(handle) if row.get("id")}
        return {}


def _document(key: str, raw: dict[str, Any]) -> DocumentSpec:
    code = raw["code"]
    sections = tuple(
        SectionSpec(
            str(s["key"]),
            str(s["template"]),
            str(s["code"]),
            str(s.get("display") or ""),
            str(s["title"]),
            bool(s.get("required", False)),
            tuple(str(e) for e in s.get("entries") or ()),
        )
        for s in raw["sections"]
    )
    return DocumentSpec(
        key,
        str(raw["template"]),
        str(code["code"]),
        str(code.get("display") or ""),
        str(raw["title"]),
        str(raw["schematron"]),
        sections,
    )


def _binding(raw: dict[str, Any]) -> BindingSpec:
    strength = str(raw["strength"])
    if strength not in STRENGTHS:
        raise ValueError(f"binding {raw.get('name')}: strength '{strength}' is not one of {STRENGTHS}")
    return BindingSpec(
        str(raw["name"]),
        str(raw["select"]),
        str(raw["valueSet"]),
        strength,
        _ids(raw.get("requirements")),
        str(raw["system"]) if raw.get("system") else None,
        str(raw["checkAs"]) if raw.get("checkAs") else None,
        _translation(raw.get("translation")),
    )


def _translation(raw: Any) -> tuple[str, str, tuple[str, ...]] | None:
    if not raw:
        return None
    return str(raw["property"]), str(raw["system"]), _ids(raw.get("requirements"))


def _ids(value: Any) -> tuple[str, ...]:
    ids = tuple(str(v) for v in (value or ()))
    bad = [i for i in ids if not _REQUIREMENT.match(i)]
    if bad:
        raise ValueError(f"not requirement IDs: {bad}")
    return ids


def base_variables(national: NationalContent) -> dict[str, Any]:
    """The national names every CDA content template may use."""
    return {
        "root": national.cda_template_root,
        "canonical": national.canonical,
        "oid_root": national.oid_root,
        "realm": national.realm_code or national.country_code,
        "ids": {key: ident.oid for key, ident in national.identifiers.items() if ident.oid},
    }


def find_content_folder(profiles_dir: Path | None = None) -> Path:
    """The first folder of the profiles directory holding ``cda.yaml``.

    Raises:
        PackageError: there is none.
    """
    folder = profiles_dir or load_settings().profiles_dir
    if folder is not None and folder.is_dir():
        for child in sorted(folder.iterdir()):
            if (child / CONTENT_FILE).is_file():
                return child
    raise PackageError(
        f"No CDA content found: no folder of {folder or 'the profiles directory'} holds {CONTENT_FILE}; "
        "set TESTBED_PROFILES or pass the content folder explicitly."
    )


def _environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("sch",), default_for_string=False),
        keep_trailing_newline=True,
    )
