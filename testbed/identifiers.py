"""Identifier rules declared as content: NamingSystem patterns and check-digit algorithms.

A content package names, in its ``package.json`` ``testbed`` object, the NamingSystem extensions that
carry an identifier's pattern (``identifierPatternExtension``) and check-digit algorithm
(``identifierCheckDigitExtension``). Every NamingSystem of the loaded packages that has them yields a
rule for each of its ``uniqueId`` systems (``uri`` as is, ``oid`` as ``urn:oid:…``). The same rules
serve FHIR ``Identifier``, HL7 v2 ``CX`` and CDA ``II``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from testbed.core.issues import Issue, IssueCode, Severity
from testbed.packages import PackageRegistry

_REQ = re.compile(r"\b[A-Z][A-Z0-9]*-[A-Z0-9]+-\d{3}\b")


def _mod97_2(value: str) -> bool:
    """Last two digits = 97 − (the preceding number mod 97)."""
    if len(value) < 3 or not value.isdigit():
        return False
    return int(value[-2:]) == 97 - int(value[:-2]) % 97


def _luhn(value: str) -> bool:
    if len(value) < 2 or not value.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(value)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _gs1_mod10(value: str) -> bool:
    if len(value) < 2 or not value.isdigit():
        return False
    body, check = value[:-1], int(value[-1])
    weighted = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - weighted % 10) % 10 == check


CHECK_DIGITS: dict[str, Callable[[str], bool]] = {"mod97-2": _mod97_2, "luhn": _luhn, "gs1-mod10": _gs1_mod10}
"""Check-digit algorithms by the code a NamingSystem gives."""


@dataclass(frozen=True, slots=True)
class IdentifierRule:
    """What a NamingSystem says about the values of one identifier system."""

    system: str
    naming_system: str
    name: str
    pattern: re.Pattern[str] | None
    check_digit: str | None
    requirements: tuple[str, ...] = ()

    def check(self, value: str, location: str) -> list[Issue]:
        """Issues for one identifier value (empty when it is fine)."""
        if self.pattern is not None and self.pattern.fullmatch(value) is None:
            return [
                Issue(
                    Severity.ERROR,
                    IssueCode.VALUE,
                    location,
                    f"'{value}' is not a valid {self.name}: it does not match {self.pattern.pattern} "
                    f"(NamingSystem {self.naming_system}).",
                    f"{self.naming_system}:pattern",
                    self.requirements,
                )
            ]
        if self.check_digit is None:
            return []
        algorithm = CHECK_DIGITS.get(self.check_digit)
        if algorithm is None:
            return [
                Issue(
                    Severity.WARNING,
                    IssueCode.NOT_SUPPORTED,
                    location,
                    f"The check digit of {self.name} uses the algorithm '{self.check_digit}', which this "
                    "testbed does not know; it was not checked.",
                    f"{self.naming_system}:check-digit",
                )
            ]
        if not algorithm(value):
            return [
                Issue(
                    Severity.ERROR,
                    IssueCode.VALUE,
                    location,
                    f"'{value}' is not a valid {self.name}: its check digits are wrong "
                    f"({self.check_digit}, NamingSystem {self.naming_system}).",
                    f"{self.naming_system}:check-digit",
                    self.requirements,
                )
            ]
        return []


class IdentifierRules:
    """Identifier rules by system, built from the NamingSystems of the loaded packages."""

    def __init__(self, rules: dict[str, IdentifierRule]) -> None:
        self._rules = rules

    @classmethod
    def from_registry(cls, registry: PackageRegistry) -> IdentifierRules:
        """Collect the rules of every NamingSystem that carries the declared extensions."""
        pattern_urls = {p.testbed.get("identifierPatternExtension") for p in registry.packages} - {None}
        check_urls = {p.testbed.get("identifierCheckDigitExtension") for p in registry.packages} - {None}
        rules: dict[str, IdentifierRule] = {}
        if not pattern_urls and not check_urls:
            return cls(rules)
        for ns in registry.iter_resources("NamingSystem"):
            pattern, check = _extension_values(ns, pattern_urls, check_urls)
            if pattern is None and check is None:
                continue
            try:
                compiled = re.compile(pattern) if pattern is not None else None
            except re.error:
                compiled = None
            reqs = tuple(dict.fromkeys(_REQ.findall(str(ns.get("usage") or ""))))
            for system in _systems(ns):
                rules.setdefault(
                    system,
                    IdentifierRule(
                        system,
                        str(ns.get("id") or ns.get("name") or system),
                        str(ns.get("name") or ns.get("id") or system),
                        compiled,
                        check,
                        reqs,
                    ),
                )
        return cls(rules)

    def __len__(self) -> int:
        return len(self._rules)

    def rule_for(self, system: str) -> IdentifierRule | None:
        """The rule of an identifier system, if a NamingSystem declares one."""
        return self._rules.get(system)

    def check(self, system: Any, value: Any, location: str) -> list[Issue]:
        """Issues for one (system, value) pair; nothing when the system has no rule or the value is absent."""
        if not isinstance(system, str) or not isinstance(value, str):
            return []
        rule = self._rules.get(system)
        return rule.check(value, location) if rule is not None else []


def _extension_values(
    ns: dict[str, Any], pattern_urls: set[Any], check_urls: set[Any]
) -> tuple[str | None, str | None]:
    pattern = check = None
    for ext in ns.get("extension") or ():
        if not isinstance(ext, dict):
            continue
        if ext.get("url") in pattern_urls and isinstance(ext.get("valueString"), str):
            pattern = ext["valueString"]
        elif ext.get("url") in check_urls and isinstance(ext.get("valueCode"), str):
            check = ext["valueCode"]
    return pattern, check


def _systems(ns: dict[str, Any]) -> list[str]:
    out = []
    for uid in ns.get("uniqueId") or ():
        if not isinstance(uid, dict) or not isinstance(uid.get("value"), str):
            continue
        if uid.get("type") == "oid":
            out.append(uid["value"] if uid["value"].startswith("urn:oid:") else f"urn:oid:{uid['value']}")
        elif uid.get("type") in ("uri", "other"):
            out.append(uid["value"])
    return out
