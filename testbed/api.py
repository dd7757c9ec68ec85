"""The library API: validate files, bytes or parsed resources with one call."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from testbed.cda import CdaValidator, validate_schema_only
from testbed.core.errors import PackageError
from testbed.core.issues import Issue, IssueCode, Severity, ValidationOutcome
from testbed.core.settings import load_settings
from testbed.fhir.context import FhirContext
from testbed.fhir.validator import FhirValidator
from testbed.hl7v2 import Hl7v2Validator
from testbed.inputs import Standard, expand_paths, sniff

log = logging.getLogger(__name__)


def default_igs() -> list[Path]:
    """The national content packages found in the profiles folder (package folders and .tgz files)."""
    folder = load_settings().profiles_dir
    if folder is None or not folder.is_dir():
        return []
    found = []
    for child in sorted(folder.iterdir()):
        if child.suffix == ".tgz" or (child / "package" / "package.json").is_file():
            found.append(child)
    return found


class _SchemaOnlyCda:
    """CDA checks available without national content: the normative schema only."""

    def validate(self, data: bytes, label: str) -> ValidationOutcome:
        return validate_schema_only(data, label)


class Validator:
    """A reusable validator: loads content once, validates many inputs.

    Args:
        igs: Extra IG packages, folders or files to load.
        default_ig: Also load the national packages found in ``profiles/``.
        profiles: Profiles every FHIR resource is also checked against.

    Example:
        ```python
        v = Validator(igs=["my-ig.tgz"])
        outcome = v.validate_file(Path("patient.json"))
        ```
    """

    def __init__(
        self, *, igs: Sequence[str | Path] = (), default_ig: bool = True, profiles: Sequence[str] = ()
    ) -> None:
        paths: list[str | Path] = [*(default_igs() if default_ig else []), *igs]
        self.context = FhirContext.create(paths)
        self.fhir = FhirValidator(self.context)
        self.profiles = tuple(profiles)
        self.load_problems: list[Issue] = list(self.context.registry.problems)
        self._cda: CdaValidator | _SchemaOnlyCda | None = None
        self._hl7v2: Hl7v2Validator | None = None

    def validate(self, source: Any, *, label: str | None = None) -> ValidationOutcome:
        """Validate a file path, raw bytes, a parsed FHIR resource or a ``fhir.resources`` model.

        A ``fhir.resources`` model (anything with ``model_dump_json``) is serialised and checked like
        any other JSON resource: the verdict comes from the StructureDefinitions, not from the model.
        """
        if isinstance(source, str | Path):
            return self.validate_file(Path(source))
        if isinstance(source, bytes):
            return self.validate_bytes(source, label=label or "<bytes>")
        name = label or "resource"
        if hasattr(source, "model_dump_json"):
            text = source.model_dump_json(exclude_none=True)
            return self._guarded(
                name, lambda: self.fhir.validate_json_text(text, profiles=self.profiles, label=name)
            )
        return self._guarded(name, lambda: self.fhir.validate(source, profiles=self.profiles, label=name))

    def validate_file(self, path: Path) -> ValidationOutcome:
        """Validate one file; an unreadable file gives a fatal issue, never an exception."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            return ValidationOutcome.fatal(
                str(path), "unknown", f"The file cannot be read: {exc.strerror or exc}."
            )
        return self.validate_bytes(data, label=str(path))

    def validate_bytes(self, data: bytes, *, label: str) -> ValidationOutcome:
        """Validate raw content whose standard is recognised from its first bytes."""
        standard = sniff(data, label)
        if standard is Standard.FHIR_JSON:
            return self._guarded(
                label, lambda: self.fhir.validate_json_text(data, profiles=self.profiles, label=label)
            )
        if standard is Standard.FHIR_XML:
            return self._guarded(
                label, lambda: self.fhir.validate_xml_text(data, profiles=self.profiles, label=label)
            )
        if standard is Standard.FHIR_NDJSON:
            return self._guarded(label, lambda: self._ndjson(data, label))
        if standard is Standard.CDA:
            return self._guarded(label, lambda: self.cda.validate(data, label), "cda")
        if standard is Standard.HL7V2:
            try:
                v2 = self.hl7v2
            except PackageError as exc:
                return ValidationOutcome.fatal(label, "hl7v2", f"HL7 v2 messages cannot be checked: {exc}")
            return self._guarded(label, lambda: v2.validate(data, label), "hl7v2")
        if not data.strip():
            return ValidationOutcome.fatal(label, "unknown", "The file is empty.")
        return ValidationOutcome.fatal(
            label,
            "unknown",
            "The content is neither FHIR JSON nor FHIR XML (nor CDA or HL7 v2): "
            "it does not start with '{', a FHIR XML element or 'MSH'.",
        )

    def validate_paths(self, paths: Iterable[Path]) -> list[ValidationOutcome]:
        """Validate files and folders (recursively), one outcome per file."""
        outcomes = [self.validate_file(p) for p in expand_paths(list(paths))]
        self.context.save_cache()
        return outcomes

    def _ndjson(self, data: bytes, label: str) -> ValidationOutcome:
        outcome = ValidationOutcome(source=label, standard="fhir")
        for n, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            inner = self.fhir.validate_json_text(line, profiles=self.profiles, label=f"{label}:{n}")
            for issue in inner.issues:
                where = f"line {n}: {issue.location}" if issue.location else f"line {n}"
                outcome.issues.append(
                    Issue(issue.severity, issue.code, where, issue.message, issue.rule, issue.requirements)
                )
            outcome.versions.update(inner.versions)
        return outcome

    @property
    def cda(self) -> CdaValidator | _SchemaOnlyCda:
        """The CDA validator on the same content (schema only when no national package is loaded)."""
        if self._cda is None:
            try:
                self._cda = CdaValidator.from_registry(
                    self.context.registry,
                    terminology=self.context.terminology,
                    identifiers=self.context.identifiers,
                )
            except PackageError:
                self._cda = _SchemaOnlyCda()
        return self._cda

    @property
    def hl7v2(self) -> Hl7v2Validator:
        """The HL7 v2 validator on the same content."""
        if self._hl7v2 is None:
            self._hl7v2 = Hl7v2Validator.from_registry(
                self.context.registry, terminology=self.context.terminology
            )
        return self._hl7v2

    def _guarded(self, label: str, func: Any, standard: str = "fhir") -> ValidationOutcome:
        try:
            result: ValidationOutcome = func()
            return result
        except RecursionError:
            return ValidationOutcome.fatal(label, standard, "The content is nested too deeply to validate.")
        except Exception as exc:  # noqa: BLE001 - the testbed could not judge: say so, keep going
            log.exception("internal error while validating %s", label)
            return ValidationOutcome(
                source=label,
                standard=standard,
                issues=[
                    Issue(
                        Severity.FATAL,
                        IssueCode.EXCEPTION,
                        "",
                        f"The testbed could not validate this input "
                        f"(internal error: {type(exc).__name__}: {exc}). "
                        "This is a testbed defect, not a verdict on the input.",
                    )
                ],
            )


@lru_cache(maxsize=4)
def _shared(igs: tuple[str, ...], default_ig: bool, profiles: tuple[str, ...]) -> Validator:
    return Validator(igs=igs, default_ig=default_ig, profiles=profiles)


def validate(
    source: Any,
    *,
    igs: Sequence[str | Path] = (),
    default_ig: bool = True,
    profiles: Sequence[str] = (),
) -> ValidationOutcome:
    """Validate one input (file path, bytes or parsed resource) and return its outcome.

    The loaded content is kept between calls with the same ``igs``/``profiles``.

    Example:
        ```python
        import testbed
        outcome = testbed.validate({"resourceType": "Patient", "gender": "F"})
        print(outcome.valid, [i.message for i in outcome.errors()])
        ```
    """
    v = _shared(tuple(str(p) for p in igs), default_ig, tuple(profiles))
    return v.validate(source)
