"""Instance identifiers (II) of a CDA document, checked with the NamingSystem rules (spec §2).

Every element with ``@root`` and ``@extension`` whose root is the OID of a NamingSystem is checked by
:class:`~testbed.identifiers.IdentifierRules` (pattern, check digit), as FHIR identifiers and HL7 v2 CX
are. A patient id under the national OID root that is neither a NamingSystem OID nor under the local or
passport arcs is an unknown identifier system (spec §2).
"""

from __future__ import annotations

from lxml import etree

from testbed.cda._parse import V3, xpath_of
from testbed.cdacontent import CdaContent
from testbed.core.issues import Issue, IssueCode, Severity
from testbed.identifiers import IdentifierRules
from testbed.national import NationalContent

_II = etree.XPath("//*[@root and @extension]")
_HEADER_PLACES = {"recordTarget", "author", "custodian", "legalAuthenticator"}
_PARTICIPANTS = {"assignedAuthor", "assignedEntity"}


class IdentifierChecker:
    """Checks the identifiers of parsed CDA documents (see the module docstring)."""

    def __init__(self, content: CdaContent, national: NationalContent, rules: IdentifierRules) -> None:
        self.content = content
        self.rules = rules
        self.keys = {ident.oid: key for key, ident in national.identifiers.items() if ident.oid}
        self.national_arc = national.oid_root + "."
        self.free_arcs = tuple(
            p.removeprefix("urn:oid:")
            for p in (national.local_system_prefix, national.passport_system_prefix)
        )

    def issues(self, tree: etree._ElementTree) -> list[Issue]:
        """Identifier issues of one document."""
        found: list[Issue] = []
        for node in _II(tree):
            root = node.get("root") or ""
            key = self.keys.get(root)
            if key is None:
                if (
                    node.tag == f"{{{V3}}}id"
                    and root.startswith(self.national_arc)
                    and _place(node) == "recordTarget"
                ):
                    found.extend(self._unknown_system(node, root))
                continue
            problems = self.rules.check(f"urn:oid:{root}", node.get("extension") or "", "")
            if not problems:
                continue
            location = f"{xpath_of(node)}/@extension"
            line = f" (line {node.sourceline})" if node.sourceline else ""
            extra = self.content.requirements.get("identifiers", ())
            extra += self.content.identifier_context.get(_place(node) or "", {}).get(key, ())
            for issue in problems:
                reqs = tuple(dict.fromkeys(issue.requirements + extra))
                found.append(
                    Issue(issue.severity, issue.code, location, f"{issue.message}{line}", issue.rule, reqs)
                )
        return found

    def _unknown_system(self, node: etree._Element, root: str) -> list[Issue]:
        if any(root.startswith(a) for a in self.free_arcs):
            return []
        line = f" (line {node.sourceline})" if node.sourceline else ""
        return [
            Issue(
                Severity.ERROR,
                IssueCode.VALUE,
                f"{xpath_of(node)}/@root",
                f"The patient identifier root {root} lies under the national OID arc but is neither a "
                f"national identifier system (NamingSystem OID) nor under the local or passport arcs{line}",
                "cda-identifier-system",
                self.content.requirements.get("unknownIdentifier", ()),
            )
        ]


def _place(node: etree._Element) -> str | None:
    """Where an identifier sits: a header participation, ``participant`` (other authors, performers) or None.

    Header participations: ``recordTarget``, ``author``, ``custodian``, ``legalAuthenticator``.
    """
    names = [etree.QName(a).localname for a in reversed(list(node.iterancestors())) if isinstance(a.tag, str)]
    if len(names) > 1 and names[1] in _HEADER_PLACES:
        return names[1]
    return "participant" if _PARTICIPANTS & set(names) else None
