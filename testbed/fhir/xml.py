"""FHIR R4 XML <-> JSON conversion, driven by the StructureDefinitions.

The JSON form is the one of http://hl7.org/fhir/R4/json.html, as ``json.loads`` gives it, with one
refinement: decimals read from XML are :class:`FhirDecimal`, a ``float`` that keeps its lexical
form (``1.50``), so precision survives XML -> JSON -> XML. Writing accepts plain ``int``,
``float`` and ``decimal.Decimal`` for decimals too.

Example:
    ```python
    converter = FhirXmlConverter(registry)
    patient = converter.to_json(Path("patient.xml").read_bytes(), "patient.xml")
    xml_bytes = converter.to_xml(patient)
    ```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from testbed.core.resolver import CanonicalResolver
from testbed.fhir._xml_errors import XmlFormatError, XmlProblem
from testbed.fhir._xml_model import TypeModels
from testbed.fhir._xml_primitives import FhirDecimal
from testbed.fhir._xml_reader import read_resource
from testbed.fhir._xml_safe import FHIR_NS, XHTML_NS, parse_xml_safely
from testbed.fhir._xml_writer import write_resource

__all__ = [
    "FHIR_NS",
    "XHTML_NS",
    "FhirDecimal",
    "FhirXmlConverter",
    "XmlFormatError",
    "XmlProblem",
    "parse_xml_safely",
]


class FhirXmlConverter:
    """Converts FHIR R4 resources between XML and JSON using the resolver's StructureDefinitions.

    Element names, order, cardinality (array or not), choice types, content references and the
    types of primitives come from the snapshots of the core resource and datatype definitions,
    indexed once per type. One converter can be shared; it only caches those indexes.

    Args:
        resolver: Gives the core StructureDefinitions (``PackageRegistry`` with ``load_core()``).
    """

    def __init__(self, resolver: CanonicalResolver) -> None:
        self._models = TypeModels(resolver)

    def to_json(self, data: bytes, label: str = "<input>") -> dict[str, Any]:
        """The JSON form of a FHIR XML resource (fits ``testbed.packages.XmlReader``).

        Args:
            data: The XML bytes.
            label: The input's name for messages (a file path).

        Returns:
            The resource as a JSON object (``resourceType`` first, then elements in definition order).

        Raises:
            XmlFormatError: the XML is unsafe (DOCTYPE, entities) or not well formed, or it is not FHIR
                R4 XML: wrong namespace, unknown element or attribute, bad number or boolean, empty
                element, element out of order or repeated beyond max 1. Every problem is listed with
                its line, column, XPath-like location and FHIRPath expression.
            ProfileError: a StructureDefinition the conversion needs is missing.
        """
        root = parse_xml_safely(data, label)
        return read_resource(self._models, root, bytes(data), label)

    def to_xml(self, resource: Mapping[str, Any], label: str = "<resource>") -> bytes:
        """Pretty-printed FHIR XML (UTF-8) of a resource in its JSON form, elements in definition order.

        Args:
            resource: The resource as a JSON object.
            label: A name for the resource in messages.

        Raises:
            XmlFormatError: the JSON is not valid FHIR R4 JSON in a way XML cannot carry (unknown
                property, wrong JSON type, ill-formed narrative, …); locations are FHIRPath.
            ProfileError: a StructureDefinition the conversion needs is missing.
        """
        return write_resource(self._models, resource, label)
