"""Build a FHIR package folder from an IG source folder: ``ig.yaml`` + templated ``input/`` and ``examples/``.

Layout of an IG source folder::

    ig.yaml            package identity, the settings every template sees, requirement vocabulary,
                       and the engine settings written to package.json "testbed"
    requirements.csv   the requirement catalogue (optional)
    input/**.yaml      conformance resources (FHIR JSON structure written as YAML, or .json)
    examples/*.yaml    {expect: {...}, resource: {...}}: example instances and their declared verdict
    package/           the built package (written by this module; commit it so users need no build)

Sources are Jinja2 templates rendered with ``settings`` (plus ``version``) and undefined names are
errors, so changing a value in ``ig.yaml`` and rebuilding gives a consistent package.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from testbed.core.errors import PackageError
from testbed.requirements import RequirementCatalogue, Vocabulary

SOURCE_SUFFIXES = (".yaml", ".yml", ".json")
VOCABULARY_KEYS = ("prefix", "areas", "actors", "levels")


@dataclass(frozen=True, slots=True)
class IgSource:
    """A parsed ``ig.yaml``."""

    root: Path
    package: dict[str, Any]
    settings: dict[str, Any]
    requirements: dict[str, Any]
    testbed: dict[str, Any]

    @property
    def name(self) -> str:
        """Package name."""
        return str(self.package["name"])

    @property
    def version(self) -> str:
        """Package version."""
        return str(self.package["version"])

    def context(self) -> dict[str, Any]:
        """What templates see: the settings plus ``version``."""
        return {**self.settings, "version": self.version}


@dataclass(slots=True)
class BuildResult:
    """What a build wrote."""

    folder: Path
    resources: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (the second would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"key {key!r} is given twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_source(root: Path) -> IgSource:
    """Read and check ``ig.yaml`` of an IG source folder.

    Raises:
        PackageError: missing file, bad YAML, or a missing/ill-typed key (named in the message).
    """
    path = root / "ig.yaml"
    if not path.is_file():
        raise PackageError(f"'{root}' is not an IG source folder: it has no ig.yaml.")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise PackageError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PackageError(f"{path}: must be a mapping with 'package' and 'settings'.")
    package = data.get("package")
    if not isinstance(package, dict) or not all(isinstance(package.get(k), str) for k in ("name", "version")):
        raise PackageError(f"{path}: 'package' must give string 'name' and 'version'.")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict) or not isinstance(settings.get("canonical"), str):
        raise PackageError(f"{path}: 'settings' must be a mapping that gives the string 'canonical'.")
    requirements = data.get("requirements") or {}
    testbed = data.get("testbed") or {}
    if not isinstance(requirements, dict) or not isinstance(testbed, dict):
        raise PackageError(f"{path}: 'requirements' and 'testbed' must be mappings.")
    return IgSource(root, package, settings, requirements, testbed)


def requirement_texts(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(text, where) of every ``requirements`` string and NamingSystem ``usage`` in a resource."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("requirements", "usage") and isinstance(item, str):
                yield item, where
            else:
                yield from requirement_texts(item, where)
    elif isinstance(value, list):
        for item in value:
            yield from requirement_texts(item, where)


def load_catalogue(source: IgSource) -> RequirementCatalogue | None:
    """The requirement catalogue named in ig.yaml (with its vocabulary), if any."""
    file = source.requirements.get("file")
    if not isinstance(file, str):
        return None
    vocabulary = Vocabulary.from_mapping(
        {k: source.requirements[k] for k in VOCABULARY_KEYS if k in source.requirements}
    )
    return RequirementCatalogue.load(source.root / file, vocabulary=vocabulary)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def render_value(value: Any, source: IgSource) -> Any:
    """Render the strings of a parsed structure (used for ig.yaml's own templated values)."""
    env = _environment()
    if isinstance(value, str):
        return env.from_string(value).render(source.context()) if "{{" in value else value
    if isinstance(value, dict):
        return {k: render_value(v, source) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, source) for v in value]
    return value


def render_text(text: str, context: dict[str, Any], *, label: str = "<source>", as_json: bool = False) -> Any:
    """Render one template with the given settings and parse the result (YAML, or JSON).

    Raises:
        PackageError: an undefined setting, a template syntax error or invalid YAML/JSON, naming ``label``.
    """
    try:
        rendered = _environment().from_string(text).render(context)
    except jinja2.UndefinedError as exc:
        raise PackageError(f"{label}: {exc.message}; define it under 'settings' in ig.yaml.") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise PackageError(f"{label}:{exc.lineno}: template error: {exc.message}.") from exc
    try:
        return json.loads(rendered) if as_json else yaml.load(rendered, Loader=_StrictLoader)
    except (yaml.YAMLError, ValueError) as exc:
        kind = "JSON" if as_json else "YAML"
        raise PackageError(f"{label}: not valid {kind} after rendering: {exc}") from exc


def render_file(path: Path, source: IgSource) -> Any:
    """Render one template file of an IG source folder and parse it (YAML or JSON)."""
    return render_text(
        path.read_text(encoding="utf-8"), source.context(), label=str(path), as_json=path.suffix == ".json"
    )


def _sources(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES)


def _file_name(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def _check_resource(resource: Any, path: Path) -> dict[str, Any]:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise PackageError(f"{path}: a source must hold one FHIR resource (a mapping with resourceType).")
    if not isinstance(resource.get("id"), str):
        raise PackageError(f"{path}: the resource needs an 'id' (it names the file in the package).")
    return resource


def _index_entry(resource: dict[str, Any], filename: str) -> dict[str, Any]:
    entry = {"filename": filename, "resourceType": resource["resourceType"], "id": resource["id"]}
    for key in ("url", "version", "kind", "type", "derivation"):
        if isinstance(resource.get(key), str):
            entry[key] = resource[key]
    return entry


def build_package(root: Path, *, out: Path | None = None) -> BuildResult:
    """Render the sources of an IG folder into a FHIR package folder (``<out>/package``).

    The previous ``package/`` is replaced only once everything rendered, so a failed build loses nothing.

    Raises:
        PackageError: any source that cannot be rendered or is not a resource; duplicate resources.
    """
    source = load_source(root)
    target = out or root
    resources: dict[str, dict[str, Any]] = {}
    for path in _sources(root / "input"):
        resource = _check_resource(render_file(path, source), path)
        name = _file_name(resource)
        if name in resources:
            raise PackageError(f"{path}: {resource['resourceType']}/{resource['id']} is defined twice.")
        resources[name] = resource
    catalogue = load_catalogue(source)
    if catalogue is not None:
        cited = [
            (rid, where)
            for name, r in resources.items()
            for text, where in requirement_texts(r, name)
            for rid in catalogue.ids_in_text(text)
        ]
        unknown = catalogue.check_ids([rid for rid, _ in cited], source.name)
        if unknown:
            places = sorted({where for rid, where in cited if rid not in catalogue})
            raise PackageError(f"{'; '.join(unknown)} (cited in {', '.join(places)}).")
    examples: dict[str, dict[str, Any]] = {}
    expectations: dict[str, Any] = {}
    for path in _sources(root / "examples"):
        doc = render_file(path, source)
        if not isinstance(doc, dict) or "resource" not in doc or not isinstance(doc.get("expect"), dict):
            raise PackageError(f"{path}: an example holds 'expect' (its declared verdict) and 'resource'.")
        resource = _check_resource(doc["resource"], path)
        name = _file_name(resource)
        if name in examples:
            raise PackageError(
                f"{path}: example {resource['resourceType']}/{resource['id']} is defined twice."
            )
        examples[name] = resource
        expectations[name] = {**doc["expect"], "source": str(path.relative_to(root))}
    manifest = {
        "name": source.name,
        "version": source.version,
        "fhirVersions": [str(source.package.get("fhirVersion", "4.0.1"))],
        "type": "fhir.ig",
        "canonical": source.settings["canonical"],
        "title": source.package.get("title", source.name),
        "description": source.package.get("description", ""),
        "license": source.package.get("license", ""),
        "author": source.package.get("author", ""),
        "dependencies": dict(source.package.get("dependencies") or {"hl7.fhir.r4.core": "4.0.1"}),
        "testbed": render_value(source.testbed, source),
    }
    staging = target / ".package.building"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "example").mkdir(parents=True)
    (staging / "other").mkdir()
    _write_json(staging / "package.json", manifest)
    for name, resource in resources.items():
        _write_json(staging / name, resource)
    for name, resource in examples.items():
        _write_json(staging / "example" / name, resource)
    _write_json(
        staging / ".index.json",
        {"index-version": 1, "files": [_index_entry(r, n) for n, r in resources.items()]},
    )
    _write_json(staging / "other" / "examples.json", expectations)
    req_file = source.requirements.get("file")
    if isinstance(req_file, str) and (root / req_file).is_file():
        shutil.copyfile(root / req_file, staging / "other" / Path(req_file).name)
    final = target / "package"
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return BuildResult(final, sorted(resources), sorted(examples))


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
