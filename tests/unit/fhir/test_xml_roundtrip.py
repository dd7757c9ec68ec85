"""JSON -> XML -> JSON round trip of the FHIR R4 specification examples, and conversion speed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from testbed.fhir.xml import FhirXmlConverter
from testbed.packages import PackageRegistry

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "fhir-r4-examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json")) if EXAMPLES.is_dir() else []

# Their narrative has `&quot;` in text, which any XML serialiser writes back as `"`: the same XHTML,
# but not the same string. Every other example comes back identical, narrative strings included.
DIV_SERIALISATION_ONLY = {"bundle-response-medsallergies.json", "bundle-response-simplesummary.json"}


@pytest.fixture(scope="module")
def converter(registry: PackageRegistry) -> FhirXmlConverter:
    return FhirXmlConverter(registry)


def normalise(value: Any, *, canonical_div: bool = True) -> Any:
    """Numbers compared by value (1.50 == 1.5, 2 == 2.0) but never with booleans; narratives as C14N."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "div" and isinstance(v, str) and canonical_div:
                out[k] = etree.tostring(etree.fromstring(v), method="c14n").decode()
            else:
                out[k] = normalise(v, canonical_div=canonical_div)
        return out
    if isinstance(value, list):
        return [normalise(v, canonical_div=canonical_div) for v in value]
    return value


def test_the_examples_are_there() -> None:
    assert len(EXAMPLE_FILES) == 254, f"expected the 254 FHIR R4 examples in {EXAMPLES}"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_round_trip(converter: FhirXmlConverter, path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    xml = converter.to_xml(original, path.name)
    back = converter.to_json(xml, path.name)
    assert normalise(back) == normalise(original)
    exact = normalise(back, canonical_div=False) == normalise(original, canonical_div=False)
    assert exact == (path.name not in DIV_SERIALISATION_ONLY)
    # XML -> JSON -> XML gives the same bytes: the writer is deterministic and loses nothing.
    again = converter.to_xml(back, path.name)
    assert (again == xml) == exact
    assert converter.to_json(again, path.name) == back
