"""The CDA R2 validator: safe parsing, the normative schema, the MA schematron, terminology, identifiers.

Order (spec §6, MA-CDA-034): the CDA XSD with SDTC, then the MA schematron of each MA template the
document declares, then the terminology bindings and code systems, then the identifiers. Every step runs
even when an earlier one found errors, so one report lists everything. A document that declares no MA
template (a CDA document from elsewhere) is checked against the schema only and gets one issue saying it
is not MA-conformant.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lxml import etree

from testbed.cda._codes import CodeChecker
from testbed.cda._ids import IdentifierChecker
from testbed.cda._parse import V3, CdaParseError, ParseLimits, parse_cda
from testbed.cda._schema import schema_issues
from testbed.cda._schematron import (
    CompiledSchematron,
    SchematronError,
    compile_schematron,
    requirement_diagnostics,
    svrl_issues,
)
from testbed.cdacontent import CdaContent
from testbed.core.errors import PackageError
from testbed.core.issues import Issue, IssueCode, Severity, ValidationOutcome
from testbed.core.settings import load_settings
from testbed.identifiers import IdentifierRules
from testbed.national import NationalContent
from testbed.packages import PackageRegistry
from testbed.terminology import TerminologyService

log = logging.getLogger(__name__)
STANDARD = "cda"
_PARSE_CODES = {
    "dtd": IssueCode.SECURITY,
    "external-entity": IssueCode.SECURITY,
    "limit": IssueCode.TOO_COSTLY,
}


class CdaValidator:
    """Validates CDA R2 documents against the schema and the national templates.

    Construct it once per process (compiling the schematrons takes ~0.1 s the first time, then comes
    from the cache folder) and call :meth:`validate` for each document; it never raises on bad input.

    Built from the national names, a terminology service and the identifier rules, so that a caller
    already holding them (``testbed.api.Validator``: ``context.terminology``, ``context.identifiers``)
    shares their caches; :meth:`from_registry` builds all three from a package registry.

    Args:
        national: The national names (identifier OIDs, CDA template root, canonical base).
        terminology: The offline terminology service (value sets and code systems of the loaded packages).
        identifiers: The identifier rules of the loaded NamingSystems.
        content: The CDA content, or the folder holding ``cda.yaml`` (default: found under ``profiles/``).
        registry: Where the requirement catalogue is found, for the texts of schematron diagnostics.
        cache_dir: Where compiled schematrons are kept (default: the testbed cache folder).
        schema: The CDA schema set: ``sdtc`` (normative + SDTC extensions, default) or ``normative``.
        limits: Parsing limits (size, element count).

    Raises:
        PackageError: the CDA content or a schematron cannot be loaded.
    """

    def __init__(
        self,
        national: NationalContent,
        terminology: TerminologyService,
        identifiers: IdentifierRules,
        *,
        content: CdaContent | Path | None = None,
        registry: PackageRegistry | None = None,
        cache_dir: Path | None = None,
        schema: str = "sdtc",
        limits: ParseLimits | None = None,
    ) -> None:
        self.national = national
        self.content = content if isinstance(content, CdaContent) else CdaContent.load(national, content)
        self.schema = schema
        self.limits = limits or ParseLimits()
        if registry is not None:
            drift = self.content.document_type_drift(registry, national)
            if drift:
                raise PackageError(
                    f"{self.content.folder / 'cda.yaml'} disagrees with the document types of the loaded "
                    f"content: {'; '.join(drift)}."
                )
        cache = cache_dir if cache_dir is not None else load_settings().cache_dir
        diagnostics = requirement_diagnostics(self.content.requirement_texts(registry))
        self.schematrons: dict[str, CompiledSchematron] = {
            template: compile_schematron(template, source, text, cache_dir=cache, add_diagnostics=diagnostics)
            for template, (source, text) in self.content.schematron_sources().items()
        }
        self.codes = CodeChecker(self.content, terminology)
        self.identifiers = IdentifierChecker(self.content, national, identifiers)

    @classmethod
    def from_registry(
        cls,
        registry: PackageRegistry,
        *,
        terminology: TerminologyService | None = None,
        identifiers: IdentifierRules | None = None,
        content: CdaContent | Path | None = None,
        cache_dir: Path | None = None,
    ) -> CdaValidator:
        """A validator for the national content of ``registry`` (terminology and rules built if not given)."""
        return cls(
            NationalContent.from_registry(registry),
            terminology or TerminologyService(registry),
            identifiers or IdentifierRules.from_registry(registry),
            content=content,
            registry=registry,
            cache_dir=cache_dir,
        )

    @property
    def header_template(self) -> str:
        """The MA header templateId every MA document declares."""
        return self.content.header.template

    def validate(self, data: bytes, label: str = "<cda>") -> ValidationOutcome:
        """Validate one CDA document (raw bytes); problems are issues, never exceptions."""
        outcome = ValidationOutcome(source=label, standard=STANDARD)
        try:
            tree = parse_cda(data, label, self.limits)
        except CdaParseError as exc:
            outcome.issues.append(self._parse_issue(exc))
            return outcome
        try:
            self._validate_tree(tree, outcome)
        except RecursionError:
            outcome.issues.append(
                Issue(Severity.FATAL, IssueCode.TOO_COSTLY, "", "The document is nested too deeply.")
            )
        except Exception as exc:  # noqa: BLE001 - the testbed could not judge: say so, keep going
            log.exception("internal error while validating %s", label)
            outcome.issues.append(
                Issue(
                    Severity.FATAL,
                    IssueCode.EXCEPTION,
                    "",
                    f"The testbed could not validate this CDA document (internal error: "
                    f"{type(exc).__name__}: {exc}). Please report it with the input.",
                )
            )
        return outcome

    def _validate_tree(self, tree: etree._ElementTree, outcome: ValidationOutcome) -> None:
        root = tree.getroot()
        if root.tag != f"{{{V3}}}ClinicalDocument":
            outcome.issues.append(
                Issue(
                    Severity.FATAL,
                    IssueCode.STRUCTURE,
                    "",
                    f"Not a CDA document: the root element is {etree.QName(root).text}, not "
                    f"{{{V3}}}ClinicalDocument.",
                    "cda-root",
                )
            )
            return
        outcome.versions["cda-schema"] = self.schema
        outcome.issues.extend(schema_issues(tree, self.content.requirements.get("schema", ()), self.schema))
        declared = [t.get("root") for t in root.findall(f"{{{V3}}}templateId")]
        applicable = [t for t in dict.fromkeys(declared) if t in self.schematrons]
        if not applicable:
            outcome.issues.append(self._not_ma(declared))
            return
        extra = self.content.requirements.get("schematron", ())
        for template in dict.fromkeys([self.header_template, *applicable]):
            schematron = self.schematrons[template]
            outcome.versions[f"schematron:{template}"] = schematron.digest[:12]
            try:
                report = schematron.run(tree)
            except SchematronError as exc:
                outcome.issues.append(
                    Issue(
                        Severity.ERROR,
                        IssueCode.EXCEPTION,
                        "",
                        f"Schematron execution error: {exc}",
                        template,
                        extra,
                    )
                )
                continue
            outcome.issues.extend(svrl_issues(report, tree, schematron, extra))
        outcome.issues.extend(self.codes.issues(tree))
        outcome.issues.extend(self.identifiers.issues(tree))

    def _not_ma(self, declared: list[str | None]) -> Issue:
        types = ", ".join(f"{d.template} ({d.title})" for d in self.content.documents.values())
        seen = ", ".join(t for t in declared if t) or "none"
        return Issue(
            Severity.ERROR,
            IssueCode.BUSINESS_RULE,
            "/ClinicalDocument",
            "This CDA document is not an MA document: it declares no MA template (the header template "
            f"{self.header_template} and one document type template of {types}; it declares: {seen}). It "
            "was checked against the CDA R2 schema only; the national rules were not applied.",
            "ma-cda-document",
            self.content.requirements.get("notMa", ()),
        )

    def _parse_issue(self, exc: CdaParseError) -> Issue:
        reqs: tuple[str, ...] = ()
        if exc.kind == "dtd":
            reqs = self.content.requirements.get("dtd", ())
        elif exc.kind == "external-entity":
            reqs = self.content.requirements.get("externalEntity", ())
        where = f" (line {exc.line})" if exc.line else ""
        return Issue(
            Severity.FATAL,
            _PARSE_CODES.get(exc.kind, IssueCode.STRUCTURE),
            "",
            f"The CDA document cannot be read: {exc.detail}{where}.",
            f"cda-parse:{exc.kind}",
            reqs,
        )


def validate_schema_only(
    data: bytes, label: str = "<cda>", *, schema: str = "sdtc", limits: ParseLimits | None = None
) -> ValidationOutcome:
    """Parse safely and check against the CDA R2 schema only, for when no national content is loaded.

    The outcome says, in an information issue, that the national rules were not applied.
    """
    outcome = ValidationOutcome(source=label, standard=STANDARD)
    try:
        tree = parse_cda(data, label, limits)
    except CdaParseError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        outcome.issues.append(
            Issue(
                Severity.FATAL,
                _PARSE_CODES.get(exc.kind, IssueCode.STRUCTURE),
                "",
                f"The CDA document cannot be read: {exc.detail}{where}.",
                f"cda-parse:{exc.kind}",
            )
        )
        return outcome
    if tree.getroot().tag != f"{{{V3}}}ClinicalDocument":
        return ValidationOutcome.fatal(
            label, STANDARD, "Not a CDA document: the root element is not ClinicalDocument."
        )
    outcome.versions["cda-schema"] = schema
    outcome.issues.extend(schema_issues(tree, (), schema))
    outcome.issues.append(
        Issue(
            Severity.INFORMATION,
            IssueCode.INFORMATIONAL,
            "",
            "No national CDA content is loaded: the document was checked against the CDA R2 schema only.",
            "cda-schema-only",
        )
    )
    return outcome
