"""Which identifier an HL7 v2 assigning authority (CX-4, XCN-9: ``namespace&OID&ISO``) stands for.

The national identifiers, their OIDs, v2 namespaces and identifier type codes come from
:class:`~testbed.national.NationalContent`; the local (facility) and passport arcs from its system
prefixes. Values are then checked with :class:`~testbed.identifiers.IdentifierRules` under the
``urn:oid:<oid>`` system, the same rules FHIR and CDA use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from testbed.national import IdentifierSystem, NationalContent

_OID_PREFIX = "urn:oid:"
_ISO_NUMERIC = re.compile(r"[0-9]{3}")


@dataclass(frozen=True, slots=True)
class Authority:
    """A resolved assigning authority.

    Attributes:
        key: The identifier key (``ins``, ``cnie``, …, ``local`` or ``passport``).
        oid: The OID given in HD-2.
        system: The identifier system ``urn:oid:<oid>`` whose rules check the value (None for local
            and passport identifiers, whose values are free).
        namespace: The HD-1 namespace the national scheme gives this authority, if any.
        types: The identifier type codes (CX-5) allowed with it.
        problem: Why the authority is malformed (a local arc that does not end with an INPE), or None.
    """

    key: str
    oid: str
    system: str | None
    namespace: str | None
    types: tuple[str, ...]
    problem: str | None = None


class Authorities:
    """Resolves HD values against the national identifier scheme."""

    def __init__(self, national: NationalContent) -> None:
        self.national = national
        self._by_oid: dict[str, IdentifierSystem] = {i.oid: i for i in national.identifiers.values() if i.oid}
        self._local = _bare(national.local_system_prefix)
        self._passport = _bare(national.passport_system_prefix)
        inpe = national.identifiers.get("inpe")
        self.inpe: IdentifierSystem | None = inpe
        self.inpe_system = f"{_OID_PREFIX}{inpe.oid}" if inpe is not None and inpe.oid else None
        self._local_types = tuple(dict.fromkeys(t for t in (national.v2_types.get("local"), "MR") if t))
        self._passport_types = tuple(t for t in (national.v2_types.get("passport"),) if t)
        self.national_namespaces = {i.v2_authority for i in national.identifiers.values() if i.v2_authority}

    def resolve(self, oid: str, inpe_ok: bool = True) -> Authority | None:
        """The authority of an OID (HD-2), or None when it belongs to no national arc."""
        ident = self._by_oid.get(oid)
        if ident is not None:
            return Authority(
                ident.key,
                oid,
                f"{_OID_PREFIX}{oid}",
                ident.v2_authority,
                (ident.v2_type,) if ident.v2_type else (),
            )
        if self._local and oid.startswith(self._local):
            suffix = oid[len(self._local) :]
            problem = None
            if not suffix or not suffix.isdigit():
                problem = (
                    f"the local arc {self._local}{{INPE}} must end with the facility's INPE, not {suffix!r}"
                )
            return Authority("local", oid, None, None, self._local_types, problem)
        if self._passport and oid.startswith(self._passport):
            suffix = oid[len(self._passport) :]
            problem = None
            if not _ISO_NUMERIC.fullmatch(suffix):
                problem = (
                    f"the passport arc {self._passport}{{country}} must end with an ISO 3166-1 numeric "
                    f"country code (3 digits), not {suffix!r}"
                )
            return Authority("passport", oid, None, None, self._passport_types, problem)
        return None

    def local_facility(self, oid: str) -> str | None:
        """The facility INPE of a local-arc OID, or None."""
        if self._local and oid.startswith(self._local):
            return oid[len(self._local) :]
        return None

    def known_forms(self) -> str:
        """The national authorities as HD values, for messages."""
        return ", ".join(i.v2_hd for i in self.national.identifiers.values() if i.oid)


def _bare(prefix: str) -> str:
    return prefix[len(_OID_PREFIX) :] if prefix.startswith(_OID_PREFIX) else ""
