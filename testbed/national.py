"""The national names a content package declares: identifier systems, OIDs, profile and code system URLs.

A package's ``package.json`` carries a ``testbed.national`` object (written from ``ig.yaml``). Generators,
the simulator and the HL7 v2 / CDA validators read every national URL, OID, id and header from here, so
the engine holds none of them and the agency can replace the provisional values in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from testbed.core.errors import PackageError
from testbed.packages import PackageRegistry


@dataclass(frozen=True, slots=True)
class IdentifierSystem:
    """One identifier of the national scheme: its FHIR system, OID and HL7 v2 names."""

    key: str
    naming_system: str
    uri: str
    oid: str | None
    v2_authority: str | None
    v2_type: str | None

    @property
    def v2_hd(self) -> str:
        """The HL7 v2 HD value ``namespace&oid&ISO`` used in CX-4 (the namespace alone without an OID)."""
        if self.oid:
            return f"{self.v2_authority or ''}&{self.oid}&ISO"
        return self.v2_authority or ""


@dataclass(frozen=True, slots=True)
class NationalContent:
    """National names declared by the loaded content (see the module docstring)."""

    package: str
    canonical: str
    oid_root: str
    cda_template_root: str
    local_system_prefix: str
    passport_system_prefix: str
    country_code: str
    realm_code: str
    identifiers: dict[str, IdentifierSystem]
    v2_types: dict[str, str]
    profiles: dict[str, str]
    extensions: dict[str, str]
    code_systems: dict[str, str]
    headers: dict[str, str]

    @classmethod
    def from_registry(cls, registry: PackageRegistry) -> NationalContent:
        """Read the first loaded package that declares ``testbed.national``.

        Raises:
            PackageError: no loaded package declares it, or a declared key is missing.
        """
        for info in registry.packages:
            national = info.testbed.get("national")
            if isinstance(national, dict):
                return cls._build(info.name, national, registry)
        raise PackageError(
            "No loaded content package declares the national names (package.json testbed.national); "
            "load the national package (profiles/) before generating or simulating."
        )

    @classmethod
    def _build(cls, package: str, data: dict[str, Any], registry: PackageRegistry) -> NationalContent:
        def need(key: str) -> Any:
            if key not in data:
                raise PackageError(f"{package}: package.json testbed.national has no '{key}'.")
            return data[key]

        canonical = str(need("canonical")).rstrip("/")
        authorities = dict(data.get("v2AssigningAuthorities") or {})
        types = {str(k): str(v) for k, v in dict(data.get("v2IdentifierTypes") or {}).items()}
        by_id = {str(ns.get("id")): ns for ns in registry.iter_resources("NamingSystem")}
        identifiers: dict[str, IdentifierSystem] = {}
        for key, ns_id in dict(need("namingSystems")).items():
            url = f"{canonical}/NamingSystem/{ns_id}"
            ns = by_id.get(str(ns_id))
            uri, oid = url, None
            if isinstance(ns, dict):
                for unique in ns.get("uniqueId") or []:
                    if unique.get("type") == "uri" and unique.get("preferred"):
                        uri = str(unique.get("value"))
                    elif unique.get("type") == "oid":
                        oid = str(unique.get("value"))
            identifiers[str(key)] = IdentifierSystem(
                str(key), str(ns_id), uri, oid, authorities.get(key), types.get(str(key))
            )
        return cls(
            package=package,
            canonical=canonical,
            oid_root=str(need("oidRoot")),
            cda_template_root=str(need("cdaTemplateRoot")),
            local_system_prefix=str(need("localIdentifierSystemPrefix")),
            passport_system_prefix=str(need("passportSystemPrefix")),
            country_code=str(data.get("countryCode") or ""),
            realm_code=str(data.get("realmCode") or ""),
            identifiers=identifiers,
            v2_types=types,
            profiles={str(k): str(v) for k, v in dict(need("profiles")).items()},
            extensions={str(k): str(v) for k, v in dict(data.get("extensions") or {}).items()},
            code_systems={str(k): str(v) for k, v in dict(data.get("codeSystems") or {}).items()},
            headers={str(k): str(v) for k, v in dict(data.get("headers") or {}).items()},
        )

    def profile_url(self, kind: str) -> str:
        """Canonical URL of the profile for a kind (``Patient``, ``ObservationLab``, …)."""
        try:
            return f"{self.canonical}/StructureDefinition/{self.profiles[kind]}"
        except KeyError:
            raise PackageError(f"{self.package}: no profile declared for '{kind}'.") from None

    def extension_url(self, role: str) -> str:
        """Canonical URL of a national extension by role (``nameScript``, ``addressRegion``)."""
        try:
            return f"{self.canonical}/StructureDefinition/{self.extensions[role]}"
        except KeyError:
            raise PackageError(f"{self.package}: no extension declared for '{role}'.") from None

    def code_system_url(self, role: str) -> str:
        """Canonical URL of a national CodeSystem by role (its ValueSet has the same id)."""
        try:
            return f"{self.canonical}/CodeSystem/{self.code_systems[role]}"
        except KeyError:
            raise PackageError(f"{self.package}: no code system declared for '{role}'.") from None

    def value_set_url(self, role: str) -> str:
        """Canonical URL of the ValueSet of a national code system role."""
        return self.code_system_url(role).replace("/CodeSystem/", "/ValueSet/")

    def local_system(self, facility_inpe: str) -> str:
        """The local (hospital record number) identifier system of a facility."""
        return f"{self.local_system_prefix}{facility_inpe}"

    def passport_system(self, country_numeric: str) -> str:
        """The passport identifier system of an issuing country (ISO 3166-1 numeric)."""
        return f"{self.passport_system_prefix}{country_numeric}"

    def identifier(self, key: str) -> IdentifierSystem:
        """The identifier system of an engine key (``ins``, ``cnie``, ``inpe``, …)."""
        try:
            return self.identifiers[key]
        except KeyError:
            raise PackageError(f"{self.package}: no naming system declared for '{key}'.") from None
