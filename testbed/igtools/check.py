"""``testbed ig check``: is a content package sound, and does it say what it covers.

Checks that the built package matches its sources, that every resource in it is valid, that every
example gets the verdict it declares, and that every requirement of the catalogue is cited by a rule
of the package or listed as pending (with the reason) in ``ig.yaml``; cited IDs must exist.
"""

from __future__ import annotations

import fnmatch
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from testbed.core.errors import PackageError, TestbedError
from testbed.fhir.context import FhirContext
from testbed.fhir.validator import FhirValidator
from testbed.igtools.build import IgSource, build_package, load_catalogue, load_source, requirement_texts


@dataclass(slots=True)
class CheckReport:
    """Findings of ``ig check``: problems fail the check; the rest is the coverage summary."""

    problems: list[str] = field(default_factory=list)
    resources: int = 0
    examples: int = 0
    examples_ok: int = 0
    cited: dict[str, set[str]] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    by_area: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def _stale_files(root: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build_package(root, out=Path(tmp)).folder
        current = root / "package"
        names = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
        names |= {p.relative_to(current).as_posix() for p in current.rglob("*") if p.is_file()}
        stale = []
        for name in sorted(names):
            a, b = fresh / name, current / name
            if not a.is_file() or not b.is_file() or a.read_bytes() != b.read_bytes():
                stale.append(name)
        return stale


def check_package(root: Path) -> CheckReport:
    """Check an IG source folder and its built ``package/``.

    Raises:
        PackageError: the folder is not an IG source folder or was never built.
    """
    source = load_source(root)
    report = CheckReport()
    if not (root / "package" / "package.json").is_file():
        raise PackageError(f"'{root}' has no built package; run: testbed ig build {root}")
    stale = _stale_files(root)
    if stale:
        report.problems.append(
            f"package/ is out of date with the sources ({', '.join(stale[:5])}"
            f"{', …' if len(stale) > 5 else ''}); run: testbed ig build {root}"
        )
    ctx = FhirContext.create([root])
    validator = FhirValidator(ctx)
    manifest = json.loads((root / "package" / "package.json").read_text(encoding="utf-8"))
    label = f"{manifest['name']}#{manifest['version']}"
    texts: list[tuple[str, str]] = []
    for path in sorted((root / "package").glob("*.json")):
        if path.name in ("package.json", ".index.json"):
            continue
        resource = json.loads(path.read_text(encoding="utf-8"))
        report.resources += 1
        texts.extend(requirement_texts(resource, path.name))
        outcome = validator.validate(resource, label=path.name)
        report.problems.extend(f"{path.name}: {i.location}: {i.message}" for i in outcome.errors())
        if resource.get("resourceType") == "StructureDefinition":
            try:
                ctx.structure(f"{resource['url']}|{resource.get('version', '')}".rstrip("|"))
            except TestbedError as exc:
                report.problems.append(f"{path.name}: {exc}")
    _check_examples(root, validator, report)
    _check_requirements(source, texts, report, label)
    return report


def _check_examples(root: Path, validator: FhirValidator, report: CheckReport) -> None:
    expectations_file = root / "package" / "other" / "examples.json"
    expectations = (
        json.loads(expectations_file.read_text(encoding="utf-8")) if expectations_file.is_file() else {}
    )
    for name, expect in sorted(expectations.items()):
        report.examples += 1
        resource = json.loads((root / "package" / "example" / name).read_text(encoding="utf-8"))
        outcome = validator.validate(resource, label=name)
        errors = outcome.errors()
        where = expect.get("source", name)
        if expect.get("valid", True):
            if errors:
                report.problems.append(
                    f"{where}: declared valid, but: "
                    + "; ".join(f"{i.location}: {i.message}" for i in errors[:3])
                )
                continue
        else:
            rule, location = expect.get("rule"), expect.get("location")
            hit = [
                i
                for i in errors
                if (rule is None or i.rule == rule) and (location is None or i.location == location)
            ]
            if not hit:
                found = "; ".join(f"{i.rule} at {i.location}" for i in errors[:5]) or "no error"
                report.problems.append(
                    f"{where}: declared invalid on rule {rule} at {location}, found: {found}"
                )
                continue
            missing = set(expect.get("requirements") or ()) - {r for i in hit for r in i.requirements}
            if missing:
                report.problems.append(
                    f"{where}: the {rule} error does not cite {', '.join(sorted(missing))} as declared"
                )
                continue
        report.examples_ok += 1


def _check_requirements(
    source: IgSource, texts: list[tuple[str, str]], report: CheckReport, label: str
) -> None:
    settings = source.requirements
    catalogue = load_catalogue(source)
    if catalogue is None:
        return
    for text, where in texts:
        for rid in catalogue.ids_in_text(text):
            report.cited.setdefault(rid, set()).add(where)
    report.problems.extend(catalogue.check_ids(sorted(report.cited), label))
    pending_rules = settings.get("pending") or {}
    if not isinstance(pending_rules, dict):
        report.problems.append("ig.yaml: requirements.pending must map ID patterns to reasons.")
        pending_rules = {}
    for req in catalogue:
        if req.id in report.cited:
            continue
        reason = next(
            (str(r) for pat, r in pending_rules.items() if fnmatch.fnmatchcase(req.id, str(pat))), None
        )
        if reason is None:
            report.problems.append(
                f"{req.id} is neither cited by a rule of the package nor listed as pending "
                "in ig.yaml (requirements.pending)."
            )
        else:
            report.pending[req.id] = reason
    for area, reqs in catalogue.by_area().items():
        ids = [r.id for r in reqs]
        report.by_area[area] = (
            len(ids),
            sum(1 for i in ids if i in report.cited),
            sum(1 for i in ids if i in report.pending),
        )
