"""Patient identity (SMR-T1, SMR-T2): INS assignment, duplicate detection, merges.

Written down:

- INS assignment: a Patient without an INS whose identity is sufficient (family, given, birth date,
  gender and a CNIE, residence permit or passport) gets one before validation. Its format comes from
  the INS NamingSystem of the content (the pattern gives the length, the check-digit algorithm the key).
- Duplicates: the INS, CNIE and residence permit identify one person. A create (or update) carrying
  one that another Patient (not merged away) already has is refused with 409 Conflict and an
  OperationOutcome ``duplicate`` naming the other Patient; with ``If-None-Exist`` the usual conditional
  create applies first (200 with the existing Patient when the search matches one).
- Merge: updating the non-surviving Patient with ``active`` = false and a ``link`` of type
  ``replaced-by`` records the merge; the survivor is not changed (it keeps its INS). Clinical searches
  by either id return the data of both (``patient=`` follows the merge, both ways).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from testbed.identifiers import CHECK_DIGITS, IdentifierRules
from testbed.national import NationalContent
from testbed.simulator._index import parse_reference
from testbed.simulator._storage import merges, search_index

_SURVIVOR = sa.select(merges.c.survivor_id).where(merges.c.patient_id == sa.bindparam("p"))
_MERGED_INTO = sa.select(merges.c.patient_id).where(
    merges.c.survivor_id.in_(sa.bindparam("ids", expanding=True))
)
_HOLDERS = sa.select(search_index.c.id).where(
    search_index.c.type == "Patient",
    search_index.c.param == "identifier",
    search_index.c.system == sa.bindparam("system"),
    search_index.c.value == sa.bindparam("value"),
)
_OTHER_HOLDER = _HOLDERS.where(
    search_index.c.id.not_in(sa.select(merges.c.patient_id)), search_index.c.id != sa.bindparam("self_id")
).limit(1)


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An identifier of a new Patient that another Patient already carries."""

    index: int
    system: str
    value: str
    other_id: str


class IdentityService:
    """INS assignment and duplicate detection for one national content."""

    def __init__(self, national: NationalContent, rules: IdentifierRules) -> None:
        self.ins_system = national.identifier("ins").uri
        keys = [k for k in ("cnie", "carte_sejour") if k in national.identifiers]
        self.document_systems = frozenset(national.identifier(k).uri for k in keys)
        self.unique_systems = frozenset({self.ins_system, *self.document_systems})
        self.passport_prefix = national.passport_system_prefix
        rule = rules.rule_for(self.ins_system)
        self._pattern: re.Pattern[str] | None = rule.pattern if rule else None
        self._algorithm = rule.check_digit if rule else None
        self._length = _digit_length(self._pattern)

    @property
    def can_assign(self) -> bool:
        """Whether the content says enough about the INS format to issue one."""
        return self._length is not None and (self._algorithm is None or self._algorithm in CHECK_DIGITS)

    def has_ins(self, patient: dict[str, Any]) -> bool:
        """Whether the Patient carries an INS."""
        return any(system == self.ins_system for _, system, _ in _identifiers(patient))

    def sufficient(self, patient: dict[str, Any]) -> bool:
        """Family, given, birth date, gender and a CNIE, residence permit or passport (spec SMR-T1)."""
        names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
        has_family = any(isinstance(n.get("family"), str) and n["family"].strip() for n in names)
        has_given = any(any(isinstance(g, str) and g.strip() for g in n.get("given") or []) for n in names)
        documents = any(
            system in self.document_systems or system.startswith(self.passport_prefix)
            for _, system, value in _identifiers(patient)
            if value
        )
        return bool(
            has_family and has_given and patient.get("birthDate") and patient.get("gender") and documents
        )

    def new_ins(self) -> str:
        """A fresh INS value in the content's format (random body, computed key)."""
        if self._length is None:
            raise ValueError("the INS NamingSystem gives no usable pattern")
        check = CHECK_DIGITS.get(self._algorithm) if self._algorithm else None
        for _ in range(1000):
            if check is None:
                candidate = _random_digits(self._length)
                if self._ok(candidate):
                    return candidate
                continue
            for key_len in (2, 1):
                body = _random_digits(self._length - key_len)
                for key in range(10**key_len):
                    candidate = f"{body}{key:0{key_len}d}"
                    if check(candidate) and self._ok(candidate):
                        return candidate
        raise ValueError("no INS value satisfies the content's pattern and check digit")

    def with_ins(self, patient: dict[str, Any], value: str) -> dict[str, Any]:
        """A copy of the Patient with the INS added as its last identifier.

        Appended, not prepended, so that the positions of what the client sent (and the locations in any
        OperationOutcome about them) stay as the client wrote them.
        """
        out = dict(patient)
        out["identifier"] = [*(patient.get("identifier") or []), {"system": self.ins_system, "value": value}]
        return out

    def duplicates(self, conn: Connection, patient: dict[str, Any], self_id: str | None) -> list[Duplicate]:
        """Identifiers of ``patient`` (INS, CNIE, residence permit) another live Patient already has."""
        found: list[Duplicate] = []
        for n, system, value in _identifiers(patient):
            if system not in self.unique_systems or not value:
                continue
            params = {"system": system, "value": value, "self_id": self_id or ""}
            other = conn.execute(_OTHER_HOLDER, params).scalar()
            if other is not None:
                found.append(Duplicate(n, system, value, str(other)))
        return found

    def ins_taken(self, conn: Connection, value: str) -> bool:
        """Whether an INS value is already in use."""
        return conn.execute(_HOLDERS, {"system": self.ins_system, "value": value}).first() is not None

    def _ok(self, candidate: str) -> bool:
        return self._pattern is None or self._pattern.fullmatch(candidate) is not None


def replaced_by(patient: dict[str, Any], base_url: str) -> str | None:
    """The survivor's id when this Patient is marked merged (inactive, link replaced-by), else None."""
    if patient.get("active") is not False:
        return None
    for link in patient.get("link") or []:
        if isinstance(link, dict) and link.get("type") == "replaced-by":
            other = link.get("other")
            ref = (
                parse_reference(str(other.get("reference") or ""), base_url)
                if isinstance(other, dict)
                else None
            )
            if ref is not None and ref[0] == "Patient":
                return ref[1]
    return None


def survivor(conn: Connection, patient_id: str) -> str:
    """The patient a chain of merges ends at (the id itself when not merged)."""
    seen = {patient_id}
    current = patient_id
    while True:
        nxt = conn.execute(_SURVIVOR, {"p": current}).scalar()
        if nxt is None or nxt in seen:
            return current
        seen.add(nxt)
        current = str(nxt)


def merge_group(conn: Connection, patient_id: str) -> set[str]:
    """Every patient id merged with this one (both ways), itself included."""
    root = survivor(conn, patient_id)
    group, frontier = {root}, [root]
    while frontier:
        rows = conn.execute(_MERGED_INTO, {"ids": frontier}).scalars()
        frontier = [str(r) for r in rows if r not in group]
        group.update(frontier)
    return group | {patient_id}


def _identifiers(patient: dict[str, Any]) -> list[tuple[int, str, str]]:
    out = []
    for n, ident in enumerate(patient.get("identifier") or []):
        if isinstance(ident, dict) and isinstance(ident.get("system"), str):
            value = ident.get("value")
            out.append((n, ident["system"], value if isinstance(value, str) else ""))
    return out


def _digit_length(pattern: re.Pattern[str] | None) -> int | None:
    if pattern is None:
        return None
    for length in range(1, 40):
        if pattern.fullmatch("1" * length):
            return length
    return None


def _random_digits(count: int) -> str:
    if count <= 0:
        return ""
    first = str(1 + secrets.randbelow(9))
    return first + "".join(str(secrets.randbelow(10)) for _ in range(count - 1))
