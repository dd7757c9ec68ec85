"""Reading inputs for validation: recognising the standard of a file and expanding folders."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from pathlib import Path

INPUT_SUFFIXES = (".json", ".xml", ".ndjson", ".hl7", ".er7")


class Standard(enum.Enum):
    """Which standard an input follows."""

    FHIR_JSON = "fhir-json"
    FHIR_XML = "fhir-xml"
    FHIR_NDJSON = "fhir-ndjson"
    CDA = "cda"
    HL7V2 = "hl7v2"
    UNKNOWN = "unknown"

    @property
    def family(self) -> str:
        """``fhir``, ``hl7v2``, ``cda`` or ``unknown``, as reported in outcomes."""
        return "fhir" if self.value.startswith("fhir") else self.value


def sniff(data: bytes, name: str = "") -> Standard:
    """Guess the standard of some bytes from their first significant characters."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.lstrip(b"\x0b").startswith((b"MSH", b"FHS", b"BHS")):
        return Standard.HL7V2
    if head.startswith(b"{"):
        if name.endswith(".ndjson"):
            return Standard.FHIR_NDJSON
        return Standard.FHIR_JSON
    if head.startswith(b"<"):
        if b"urn:hl7-org:v3" in head or b"<ClinicalDocument" in head or b"<!DOCTYPE ClinicalDocument" in head:
            return Standard.CDA
        if b"http://hl7.org/fhir" in head:
            return Standard.FHIR_XML
    return Standard.UNKNOWN


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    """Files given directly, and for folders every file with a known suffix, recursively and sorted."""
    for p in paths:
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES)
        else:
            yield p
