"""Coded elements and units of a CDA document, checked by the offline terminology service.

Three checks, all driven by the CDA content (``cda.yaml``):

- bindings: the coded elements an XPath selects are checked against a value set, with the severity of
  the binding strength (spec §3: required = error, extensible = warning, preferred/example = information);
  a code that cannot be checked offline is a warning for required and extensible bindings;
- code systems: every ``@code`` whose ``@codeSystem`` OID is in the content's table is checked in that
  code system when it is available offline (a wrong code is an error), and against the system's
  check-digit algorithm when one is declared (GTIN);
- units: every ``@unit`` is a UCUM expression (a malformed one is an error; an unknown atom a warning).
"""

from __future__ import annotations

from lxml import etree

from testbed.cda._parse import NS, V3, xpath_of
from testbed.cdacontent import BindingSpec, CdaContent
from testbed.core.issues import Issue, IssueCode, Severity
from testbed.identifiers import CHECK_DIGITS
from testbed.terminology import TerminologyService, check_ucum

_SEVERITY = {
    "required": Severity.ERROR,
    "extensible": Severity.WARNING,
    "preferred": Severity.INFORMATION,
    "example": Severity.INFORMATION,
}
_CODED = etree.XPath("//*[@code and @codeSystem]")
_UNITS = etree.XPath("//*[@unit]")
_RESULT_VALUE = {f"{{{V3}}}value", f"{{{V3}}}low", f"{{{V3}}}high"}


class CodeChecker:
    """Checks the coded elements and units of parsed CDA documents (see the module docstring)."""

    def __init__(self, content: CdaContent, terminology: TerminologyService) -> None:
        self.content = content
        self.terminology = terminology
        self._bindings = [(b, etree.XPath(b.select, namespaces=NS)) for b in content.bindings]
        self._oids = {b.name: content.oid_of(b.system) if b.system else None for b in content.bindings}

    def issues(self, tree: etree._ElementTree) -> list[Issue]:
        """Binding, code system and unit issues of one document."""
        found: list[Issue] = []
        flagged: set[etree._Element] = set()
        for binding, select in self._bindings:
            for node in select(tree):
                if isinstance(node, etree._Element):
                    issue = self._binding(binding, node)
                    if issue is not None:
                        found.append(issue)
                        if issue.severity.is_error:
                            flagged.add(node)
        for node in _CODED(tree):
            if node not in flagged:
                found.extend(self._in_system(node))
        for node in _UNITS(tree):
            found.extend(self._unit(node))
        return found

    def _binding(self, binding: BindingSpec, node: etree._Element) -> Issue | None:
        code = node.get("code")
        if not code:
            return None
        oid = node.get("codeSystem")
        wanted = self._oids[binding.name]
        if wanted is not None and oid != wanted:
            return None
        spec = self.content.code_systems.get(oid or "")
        system = binding.check_as or (spec.uri if spec else None)
        check = self.terminology.validate_code(binding.value_set, system=system, code=code)
        if check.valid is True and binding.translation is not None and system is not None:
            return self._translation(binding, node, system, code)
        if check.valid is True or (
            check.valid is None and binding.strength not in ("required", "extensible")
        ):
            return None
        where = f"{xpath_of(node)}/@code"
        line = f" (line {node.sourceline})" if node.sourceline else ""
        reqs = tuple(dict.fromkeys(binding.requirements + self.content.requirements.get("terminology", ())))
        if check.valid is False:
            return Issue(
                _SEVERITY[binding.strength],
                IssueCode.CODE_INVALID,
                where,
                f"The code '{code}' (codeSystem {oid}) is not in the value set {binding.value_set} "
                f"({binding.strength} binding '{binding.name}'): {check.message}{line}",
                f"cda-binding:{binding.name}",
                reqs,
            )
        return Issue(
            Severity.WARNING,
            IssueCode.NOT_SUPPORTED,
            where,
            f"The code '{code}' (codeSystem {oid}) could not be checked against {binding.value_set} "
            f"({binding.strength} binding '{binding.name}'): {check.message}{line}",
            f"cda-binding:{binding.name}",
            reqs,
        )

    def _translation(
        self, binding: BindingSpec, node: etree._Element, system: str, code: str
    ) -> Issue | None:
        """A translation in the declared system must equal the concept's property (GTIN → its ATC class)."""
        assert binding.translation is not None
        prop, target, reqs = binding.translation
        oid = self.content.oid_of(target)
        given = [t.get("code") for t in node.findall(f"{{{V3}}}translation") if t.get("codeSystem") == oid]
        if not given:
            return None
        details = self.terminology.lookup(system, code) or {}
        expected = {str(p["value"]) for p in details.get("property") or () if p.get("code") == prop}
        if not expected or set(given) & expected:
            return None
        where, line = _where(node, "code")
        return Issue(
            Severity.ERROR,
            IssueCode.CODE_INVALID,
            where,
            f"The {target} translation {', '.join(str(g) for g in given)} of '{code}' is not its {prop} "
            f"({', '.join(sorted(expected))}) in {system}{line}",
            f"cda-binding:{binding.name}:{prop}",
            tuple(dict.fromkeys(reqs + self.content.requirements.get("terminology", ()))),
        )

    def _in_system(self, node: etree._Element) -> list[Issue]:
        spec = self.content.code_systems.get(node.get("codeSystem") or "")
        code = node.get("code") or ""
        if spec is None or not code:
            return []
        reqs = self.content.requirements.get("terminology", ())
        if spec.check_digit:
            algorithm = CHECK_DIGITS.get(spec.check_digit)
            if algorithm is not None and not algorithm(code):
                where, line = _where(node, "code")
                return [
                    Issue(
                        Severity.ERROR,
                        IssueCode.CODE_INVALID,
                        where,
                        f"'{code}' is not a valid {spec.name} code: its check digit is wrong "
                        f"({spec.check_digit}){line}",
                        f"cda-code-system:{spec.name}",
                        reqs,
                    )
                ]
        check = self.terminology.check_in_system(spec.uri, code)
        if check.valid is False:
            where, line = _where(node, "code")
            return [
                Issue(
                    Severity.ERROR,
                    IssueCode.CODE_INVALID,
                    where,
                    f"'{code}' is not a code of {spec.name} ({spec.oid}): {check.message}{line}",
                    f"cda-code-system:{spec.name}",
                    reqs,
                )
            ]
        return []

    def _unit(self, node: etree._Element) -> list[Issue]:
        unit = node.get("unit") or ""
        verdict = check_ucum(unit)
        if verdict.valid is True:
            return []
        reqs = self.content.requirements.get("units", ())
        if node.tag in _RESULT_VALUE and _in_observation_value(node):
            reqs = tuple(dict.fromkeys(self.content.requirements.get("resultUnits", ()) + reqs))
        line = f" (line {node.sourceline})" if node.sourceline else ""
        return [
            Issue(
                Severity.ERROR if verdict.valid is False else Severity.WARNING,
                IssueCode.CODE_INVALID if verdict.valid is False else IssueCode.NOT_SUPPORTED,
                f"{xpath_of(node)}/@unit",
                f"{verdict.message}{line}",
                "cda-ucum",
                reqs,
            )
        ]


def _where(node: etree._Element, attribute: str) -> tuple[str, str]:
    """The XPath of an attribute of ``node`` and a `` (line N)`` suffix for messages."""
    return f"{xpath_of(node)}/@{attribute}", f" (line {node.sourceline})" if node.sourceline else ""


def _in_observation_value(node: etree._Element) -> bool:
    """True for ``observation/value`` and the bounds of an ``observation/value`` interval or range."""
    current: etree._Element | None = node
    while current is not None and current.tag != f"{{{V3}}}observation":
        if current.tag == f"{{{V3}}}value":
            parent = current.getparent()
            return parent is not None and parent.tag in (f"{{{V3}}}observation", f"{{{V3}}}observationRange")
        current = current.getparent()
    return False
