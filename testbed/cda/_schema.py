"""The normative CDA R2 XML schema (with the SDTC extensions), shipped in ``testbed/cda/schemas``.

The schema is compiled once per process (lxml ``XMLSchema``, libxml2) and shared. Errors are located
by XPath (``/ClinicalDocument/recordTarget[1]``) and line.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

from lxml import etree

from testbed.cda._parse import pretty_message, xpath_of
from testbed.core.errors import PackageError
from testbed.core.issues import Issue, IssueCode, Severity

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "schema"
SCHEMAS = {
    "sdtc": SCHEMA_DIR / "extensions" / "SDTC" / "infrastructure" / "cda" / "CDA_SDTC.xsd",
    "normative": SCHEMA_DIR / "normative" / "infrastructure" / "cda" / "CDA.xsd",
}
"""Entry points of the shipped schema sets: ``sdtc`` (default: normative + SDTC) and ``normative``."""

_LOCK = threading.Lock()


@cache
def cda_schema(variant: str = "sdtc") -> etree.XMLSchema:
    """The compiled CDA schema (cached per process).

    Raises:
        PackageError: unknown variant, or the shipped schema files are missing or broken.
    """
    path = SCHEMAS.get(variant)
    if path is None:
        raise PackageError(f"Unknown CDA schema variant '{variant}': expected one of {sorted(SCHEMAS)}.")
    try:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        return etree.XMLSchema(etree.parse(str(path), parser))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise PackageError(f"The CDA schema {path} cannot be loaded: {exc}") from None


def schema_issues(
    tree: etree._ElementTree, requirements: tuple[str, ...], variant: str = "sdtc", *, limit: int = 200
) -> list[Issue]:
    """Validate a parsed document against the CDA schema: one error issue per schema error.

    Args:
        tree: The parsed document.
        requirements: Requirement IDs every schema issue cites.
        variant: The schema set (see :data:`SCHEMAS`).
        limit: At most this many issues (a final information issue says how many were left out).
    """
    schema = cda_schema(variant)
    with _LOCK:  # an XMLSchema object keeps its error log: one validation at a time
        if schema.validate(tree):
            return []
        entries = list(schema.error_log)
    issues: list[Issue] = []
    for entry in entries[:limit]:
        location = _locate(tree, entry.path)
        where = f" (line {entry.line})" if entry.line else ""
        issues.append(
            Issue(
                Severity.ERROR,
                IssueCode.STRUCTURE,
                location,
                f"CDA schema: {pretty_message(entry.message)}{where}",
                "cda-xsd",
                requirements,
            )
        )
    if len(entries) > limit:
        issues.append(
            Issue(
                Severity.INFORMATION,
                IssueCode.TOO_COSTLY,
                "",
                f"{len(entries) - limit} more CDA schema errors were not listed.",
                "cda-xsd",
            )
        )
    return issues


def _locate(tree: etree._ElementTree, path: str | None) -> str:
    if not path:
        return ""
    try:
        found = tree.xpath(path)
    except etree.XPathError:
        return path
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return xpath_of(found[0])
    return path
