"""Loading FHIR NPM packages, folders and files of conformance resources, and resolving canonicals."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.core.errors import PackageError
from testbed.core.issues import Issue, IssueCode, Severity
from testbed.packages._versions import version_key, version_matches

CORE_PACKAGE = "hl7.fhir.r4.core"
CORE_VERSION = "4.0.1"
DATA_DIR = Path(__file__).resolve().parent / "data"
CORE_TGZ = DATA_DIR / f"{CORE_PACKAGE}-{CORE_VERSION}.tgz"
CORE_SHA256 = "b090bf929e1f665cf2c91583720849695bc38d2892a7c5037c56cb00817fb091"

CONFORMANCE_TYPES = frozenset(
    {
        "StructureDefinition",
        "ValueSet",
        "CodeSystem",
        "NamingSystem",
        "ConceptMap",
        "SearchParameter",
        "OperationDefinition",
        "CapabilityStatement",
        "CompartmentDefinition",
        "ImplementationGuide",
        "StructureMap",
        "GraphDefinition",
        "MessageDefinition",
        "Questionnaire",
        "TerminologyCapabilities",
        "ActivityDefinition",
        "PlanDefinition",
        "Library",
        "Measure",
        "EventDefinition",
        "ExampleScenario",
        "TestScript",
    }
)

XmlReader = Callable[[bytes, str], dict[str, Any]]
"""Turns FHIR XML bytes (and a label for messages) into the JSON form of the resource."""


@dataclass(frozen=True, slots=True)
class PackageInfo:
    """A loaded package or folder of conformance resources."""

    name: str
    version: str
    source: str
    fhir_versions: tuple[str, ...] = ()
    dependencies: tuple[tuple[str, str], ...] = ()
    canonical: str | None = None
    testbed: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The package.json ``testbed`` object: engine settings a content package declares."""

    @property
    def label(self) -> str:
        """``name#version`` as FHIR tooling writes it."""
        return f"{self.name}#{self.version}"


@dataclass(slots=True)
class _Entry:
    resource_type: str
    id: str | None
    url: str | None
    version: str | None
    package: str
    path: Path | None
    resource: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class PackageRegistry:
    """Holds every loaded conformance resource, indexed by canonical URL, type and id.

    Resources are read from disk on first use. Packages given as ``.tgz`` are extracted once into
    the cache folder (keyed by their SHA-256). Dependencies named in ``package.json`` are looked up
    among loaded packages, the built-in core package, sibling files and ``~/.fhir/packages``.
    """

    def __init__(self, *, cache_dir: Path, xml_reader: XmlReader | None = None) -> None:
        self._cache_dir = cache_dir
        self._xml_reader = xml_reader
        self._by_url: dict[str, list[_Entry]] = {}
        self._by_type: dict[str, list[_Entry]] = {}
        self._by_type_id: dict[tuple[str, str], _Entry] = {}
        self._packages: dict[str, PackageInfo] = {}
        self._search_dirs: list[Path] = []
        self.problems: list[Issue] = []

    def set_xml_reader(self, reader: XmlReader) -> None:
        """Set the function that reads FHIR XML conformance resources."""
        self._xml_reader = reader

    # ----------------------------------------------------------------- loading

    @property
    def packages(self) -> list[PackageInfo]:
        """Loaded packages, in load order."""
        return list(self._packages.values())

    def has_package(self, name: str, version: str | None = None) -> bool:
        """Whether a package of this name (and version, if given) is loaded."""
        info = self._packages.get(name)
        return info is not None and (version is None or version_matches(version, info.version))

    def load_core(self) -> PackageInfo:
        """Load the built-in hl7.fhir.r4.core 4.0.1 package (idempotent)."""
        if self.has_package(CORE_PACKAGE, CORE_VERSION):
            return self._packages[CORE_PACKAGE]
        return self._load_tgz(CORE_TGZ, expected_sha256=CORE_SHA256)

    def load(self, path: str | Path) -> list[PackageInfo]:
        """Load a package ``.tgz``, a package folder, a folder of resources or one resource file.

        Raises:
            PackageError: the path does not exist or holds nothing loadable.
        """
        p = Path(path)
        if not p.exists():
            raise PackageError(f"Cannot load '{p}': no such file or folder.")
        if p.is_file() and (p.name.endswith(".tgz") or p.name.endswith(".tar.gz")):
            return [self._load_tgz(p)]
        if p.is_dir():
            if (p / "package" / "package.json").is_file():
                return [self._load_package_dir(p / "package", source=str(p))]
            if (p / "package.json").is_file() and _is_fhir_package_json(p / "package.json"):
                return [self._load_package_dir(p, source=str(p))]
            return [self._load_folder(p)]
        if p.is_file():
            return [self._load_single_file(p)]
        raise PackageError(f"Cannot load '{p}': not a regular file or folder.")

    def add_resource(self, resource: dict[str, Any], *, package: str = "(in-memory)") -> None:
        """Register one resource held in memory (for example a generated snapshot or a test fixture)."""
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            raise PackageError(f"Cannot register a resource without resourceType (package {package}).")
        self._index(
            _Entry(
                rtype,
                resource.get("id"),
                resource.get("url"),
                resource.get("version"),
                package,
                None,
                resource,
            )
        )

    def _load_tgz(self, path: Path, *, expected_sha256: str | None = None) -> PackageInfo:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 and digest != expected_sha256:
            raise PackageError(
                f"Package '{path}' has SHA-256 {digest}, expected {expected_sha256}: the file is damaged "
                "or was replaced. Reinstall testbed."
            )
        target = self._cache_dir / "packages" / digest[:24]
        marker = target / ".complete"
        if not marker.exists():
            tmp = target.with_name(target.name + f".tmp{id(self)}")
            try:
                with tarfile.open(path, "r:*") as tar:
                    tar.extractall(tmp, filter="data")
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise PackageError(f"Cannot read package archive '{path}': {exc}.") from exc
            if not (tmp / "package" / "package.json").is_file():
                raise PackageError(f"'{path}' is not a FHIR package: it has no package/package.json.")
            if target.exists():
                _rmtree(target)
            tmp.rename(target)
            marker.write_text(digest)
        self._search_dirs.append(path.parent)
        return self._load_package_dir(target / "package", source=str(path))

    def _load_package_dir(self, folder: Path, *, source: str) -> PackageInfo:
        manifest_path = folder / "package.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PackageError(f"Cannot read '{manifest_path}': {exc}.") from exc
        name = manifest.get("name")
        version = manifest.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise PackageError(f"'{manifest_path}' must give a string 'name' and 'version'.")
        if self.has_package(name):
            existing = self._packages[name]
            if existing.version != version:
                self._problem(
                    f"Package {name}#{version} from {source} ignored: {existing.label} is already loaded.",
                    IssueCode.CONFLICT,
                )
            return existing
        deps = manifest.get("dependencies") or {}
        info = PackageInfo(
            name=name,
            version=version,
            source=source,
            fhir_versions=tuple(manifest.get("fhirVersions") or manifest.get("fhir-version-list") or ()),
            dependencies=tuple((str(k), str(v)) for k, v in deps.items()),
            canonical=manifest.get("canonical"),
            testbed=dict(manifest.get("testbed") or {}) if isinstance(manifest.get("testbed"), dict) else {},
        )
        self._packages[name] = info
        label = info.label
        index_path = folder / ".index.json"
        entries: Iterable[_Entry]
        if index_path.is_file():
            entries = self._entries_from_index(folder, index_path, label)
        else:
            entries = self._entries_from_scan(sorted(folder.glob("*")), label)
        for entry in entries:
            self._index(entry)
        self._load_dependencies(info, Path(source).parent if Path(source).exists() else folder.parent)
        return info

    def _entries_from_index(self, folder: Path, index_path: Path, label: str) -> Iterator[_Entry]:
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PackageError(f"Cannot read package index '{index_path}': {exc}.") from exc
        for item in index.get("files", []):
            rtype = item.get("resourceType")
            if not rtype or not item.get("filename"):
                continue
            meta = {k: item[k] for k in ("kind", "type", "derivation") if k in item}
            yield _Entry(
                rtype,
                item.get("id"),
                item.get("url"),
                item.get("version"),
                label,
                folder / item["filename"],
                meta=meta,
            )

    def _entries_from_scan(self, files: Iterable[Path], label: str) -> Iterator[_Entry]:
        for f in files:
            if not f.is_file() or f.name in ("package.json", ".index.json") or f.name.startswith("."):
                continue
            if f.suffix.lower() not in (".json", ".xml"):
                continue
            try:
                resource = self._read(f)
            except PackageError as exc:
                self._problem(str(exc), IssueCode.STRUCTURE)
                continue
            yield from self._entries_for(resource, f, label)

    def _entries_for(self, resource: dict[str, Any], path: Path, label: str) -> Iterator[_Entry]:
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            return
        if rtype == "Bundle":
            for e in resource.get("entry") or []:
                inner = e.get("resource") if isinstance(e, dict) else None
                if isinstance(inner, dict) and isinstance(inner.get("resourceType"), str):
                    yield _Entry(
                        inner["resourceType"],
                        inner.get("id"),
                        inner.get("url"),
                        inner.get("version"),
                        label,
                        path,
                        inner,
                    )
            return
        yield _Entry(
            rtype, resource.get("id"), resource.get("url"), resource.get("version"), label, path, resource
        )

    def _load_folder(self, folder: Path) -> PackageInfo:
        name = f"local.{folder.name or 'folder'}"
        info = PackageInfo(name=name, version="0.0.0-local", source=str(folder))
        label = info.label
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".json", ".xml"))
        count = 0
        for entry in self._entries_from_scan(files, label):
            if entry.resource_type in CONFORMANCE_TYPES:
                self._index(entry)
                count += 1
        if count == 0:
            raise PackageError(f"Folder '{folder}' holds no FHIR conformance resource (.json or .xml).")
        self._packages[name] = info
        return info

    def _load_single_file(self, path: Path) -> PackageInfo:
        if path.suffix.lower() not in (".json", ".xml"):
            raise PackageError(
                f"Cannot load '{path}': expected a .tgz package, a folder, or a .json/.xml file."
            )
        resource = self._read(path)
        entries = [e for e in self._entries_for(resource, path, f"local.{path.stem}#0.0.0-local")]
        conformance = [e for e in entries if e.resource_type in CONFORMANCE_TYPES]
        if not conformance:
            raise PackageError(f"'{path}' holds no FHIR conformance resource.")
        for entry in conformance:
            self._index(entry)
        info = PackageInfo(name=f"local.{path.stem}", version="0.0.0-local", source=str(path))
        self._packages[info.name] = info
        return info

    def _load_dependencies(self, info: PackageInfo, near: Path) -> None:
        for dep, wanted in info.dependencies:
            if self.has_package(dep):
                loaded = self._packages[dep]
                if not version_matches(wanted, loaded.version) and wanted not in ("current", "dev", "latest"):
                    self._problem(
                        f"{info.label} depends on {dep}#{wanted} but {loaded.label} is loaded.",
                        IssueCode.CONFLICT,
                    )
                continue
            if dep == CORE_PACKAGE and version_matches(wanted, CORE_VERSION):
                self.load_core()
                continue
            found = self._find_dependency(dep, wanted, near)
            if found is None:
                self._problem(
                    f"{info.label} depends on {dep}#{wanted}, which was not found (looked for "
                    f"{dep}-{wanted}.tgz beside the package, among given --ig paths and in "
                    f"~/.fhir/packages/{dep}#{wanted}). Resources it defines cannot be resolved.",
                    IssueCode.NOT_FOUND,
                )
                continue
            self.load(found)

    def _find_dependency(self, name: str, version: str, near: Path) -> Path | None:
        dirs = [near, *self._search_dirs, Path.home() / ".fhir" / "packages"]
        for d in dirs:
            for candidate in (
                d / f"{name}-{version}.tgz",
                d / f"{name}#{version}.tgz",
                d / f"{name}#{version}",
                d / f"{name}-{version}",
            ):
                if candidate.exists():
                    return candidate
        return None

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PackageError(f"Cannot read '{path}': {exc.strerror}.") from exc
        if path.suffix.lower() == ".xml":
            if self._xml_reader is None:
                raise PackageError(f"Cannot read '{path}': no FHIR XML reader is configured.")
            try:
                return self._xml_reader(raw, str(path))
            except ValueError as exc:
                raise PackageError(f"Cannot read FHIR XML '{path}': {exc}") from exc
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PackageError(f"Cannot read '{path}': not valid JSON ({exc}).") from exc
        if not isinstance(data, dict):
            raise PackageError(f"Cannot read '{path}': the JSON is not an object.")
        return data

    def _index(self, entry: _Entry) -> None:
        if entry.url:
            self._by_url.setdefault(entry.url, []).append(entry)
        self._by_type.setdefault(entry.resource_type, []).append(entry)
        if entry.id:
            self._by_type_id.setdefault((entry.resource_type, entry.id), entry)

    def _problem(self, message: str, code: IssueCode) -> None:
        self.problems.append(Issue(Severity.WARNING, code, "", message))

    # ----------------------------------------------------------------- lookup

    def _materialize(self, entry: _Entry) -> dict[str, Any]:
        if entry.resource is None:
            assert entry.path is not None
            entry.resource = self._read(entry.path)
        return entry.resource

    def resolve(self, canonical: str, resource_type: str | None = None) -> dict[str, Any] | None:
        """The resource with this canonical URL, ``url|version`` honoured; the latest version otherwise."""
        if not isinstance(canonical, str):
            return None
        url, _, version = canonical.partition("|")
        url = url.split("#", 1)[0] if "#" in url and not url.startswith("#") else url
        candidates = self._by_url.get(url)
        if not candidates:
            return None
        if resource_type:
            candidates = [e for e in candidates if e.resource_type == resource_type]
        if version:
            candidates = [e for e in candidates if version_matches(version, e.version)]
        if not candidates:
            return None
        best = max(candidates, key=lambda e: version_key(e.version)) if len(candidates) > 1 else candidates[0]
        return self._materialize(best)

    def get(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """The resource of this type and id (first loaded wins)."""
        entry = self._by_type_id.get((resource_type, resource_id))
        return self._materialize(entry) if entry else None

    def iter_resources(self, resource_type: str) -> Iterator[dict[str, Any]]:
        """Every loaded resource of this type, each canonical's latest version first."""
        entries = self._by_type.get(resource_type, [])
        ordered = sorted(entries, key=lambda e: version_key(e.version), reverse=True)
        for entry in ordered:
            yield self._materialize(entry)

    def package_of(self, canonical: str) -> str | None:
        """``name#version`` of the package that defines this canonical, if loaded."""
        url = canonical.partition("|")[0]
        entries = self._by_url.get(url)
        return entries[0].package if entries else None

    def fingerprint(self) -> str:
        """A digest of the loaded packages, for keying compiled caches."""
        h = hashlib.sha256()
        for info in self._packages.values():
            h.update(f"{info.label}@{info.source}\n".encode())
            src = Path(info.source)
            if src.exists():
                h.update(str(src.stat().st_mtime_ns).encode())
        return h.hexdigest()[:32]

    def versions(self) -> dict[str, str]:
        """Loaded package names and versions."""
        return {i.name: i.version for i in self._packages.values()}


def _is_fhir_package_json(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and (
        "fhirVersions" in data
        or "fhir-version-list" in data
        or "hl7.fhir.r4.core" in (data.get("dependencies") or {})
    )


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
