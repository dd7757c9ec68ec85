"""Code systems that are not shipped as CodeSystem content: their names, and native grammar checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from testbed.terminology._grammar import GrammarResult, check_language_tag, check_media_type
from testbed.terminology._iso import ISO_3166_ALPHA2
from testbed.terminology._ucum import check_ucum

UCUM = "http://unitsofmeasure.org"
BCP47 = "urn:ietf:bcp:47"
BCP13 = "urn:ietf:bcp:13"
ISO3166 = "urn:iso:std:iso:3166"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


@dataclass(frozen=True, slots=True)
class ExternalSystem:
    """A code system the testbed knows by name but does not hold as CodeSystem content.

    Attributes:
        url: The system URI.
        name: Its human name, for messages.
        case_sensitive: Whether its codes are case-sensitive (used to match value set lists).
        checker: A native check of a code (grammar, stable table), or None when codes cannot be
            checked offline at all.
    """

    url: str
    name: str
    case_sensitive: bool = True
    checker: Callable[[str], GrammarResult] | None = None

    def norm(self, code: str) -> str:
        """The form of a code used as a key: itself, or case-folded when case does not matter."""
        return code if self.case_sensitive else code.casefold()


def _check_ucum(code: str) -> GrammarResult:
    r = check_ucum(code)
    return GrammarResult(r.valid, r.message)


def _check_iso3166(code: str) -> GrammarResult:
    if code in ISO_3166_ALPHA2:
        return GrammarResult(True, f"'{code}' is an ISO 3166-1 alpha-2 country code.")
    return GrammarResult(
        None,
        f"'{code}' is not an ISO 3166-1 alpha-2 code the testbed knows; alpha-3, "
        "numeric and reserved ISO 3166 codes cannot be checked offline.",
    )


_KNOWN = (
    ExternalSystem(UCUM, "UCUM", True, _check_ucum),
    ExternalSystem(BCP47, "BCP-47 language tags", False, check_language_tag),
    ExternalSystem(BCP13, "BCP-13 media types", False, check_media_type),
    ExternalSystem(ISO3166, "ISO 3166 country codes", True, _check_iso3166),
    ExternalSystem(SNOMED, "SNOMED CT"),
    ExternalSystem(LOINC, "LOINC", False),
    ExternalSystem("http://hl7.org/fhir/sid/icd-10", "ICD-10", False),
    ExternalSystem("http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-CM", False),
    ExternalSystem("http://hl7.org/fhir/sid/icd-9-cm", "ICD-9-CM", False),
    ExternalSystem("http://id.who.int/icd/release/11/mms", "ICD-11 MMS"),
    ExternalSystem("http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
    ExternalSystem("http://hl7.org/fhir/sid/cvx", "CVX"),
    ExternalSystem("http://hl7.org/fhir/sid/ndc", "NDC"),
    ExternalSystem("http://www.whocc.no/atc", "ATC"),
    ExternalSystem("http://www.ama-assn.org/go/cpt", "CPT"),
    ExternalSystem("urn:iso:std:iso:3166:-2", "ISO 3166-2 subdivision codes"),
    ExternalSystem("urn:iso:std:iso:4217", "ISO 4217 currency codes"),
    ExternalSystem("http://unstats.un.org/unsd/methods/m49/m49.htm", "UN M.49 region codes"),
    ExternalSystem("http://www.genenames.org", "HGNC"),
    ExternalSystem("http://varnomen.hgvs.org", "HGVS"),
    ExternalSystem("http://ncimeta.nci.nih.gov", "NCI Metathesaurus"),
    ExternalSystem("http://ncithesaurus-stage.nci.nih.gov", "NCI Thesaurus"),
    ExternalSystem("http://fdasis.nlm.nih.gov", "UNII"),
    ExternalSystem("http://nucc.org/provider-taxonomy", "NUCC provider taxonomy"),
    ExternalSystem("https://www.usps.com/", "USPS state codes"),
    ExternalSystem("http://www.nlm.nih.gov/research/umls", "UMLS"),
    ExternalSystem("http://www.radlex.org", "RadLex"),
    ExternalSystem("http://terminology.hl7.org/CodeSystem/umls", "UMLS"),
)
KNOWN_EXTERNAL: dict[str, ExternalSystem] = {s.url: s for s in _KNOWN}


def external_system(url: str) -> ExternalSystem:
    """The known external system with this URL, or a generic one named by its URL."""
    return KNOWN_EXTERNAL.get(url) or ExternalSystem(url, f"'{url}'")
