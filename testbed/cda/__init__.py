"""CDA R2: safe parsing, the normative schema (with SDTC), the MA schematron, terminology and identifiers.

Typical use::

    from testbed.cda import CdaValidator

    validator = CdaValidator.from_registry(registry)        # once per process
    outcome = validator.validate(xml_bytes, "discharge.xml")  # a ValidationOutcome (standard "cda")

The national templates live as content in ``profiles/ma.smr.cda`` (``cda.yaml`` and ISO Schematron files,
Jinja2 templates rendered with the national names); the HL7 schemas ship in ``testbed/cda/schemas``.
"""

from testbed.cda._parse import CdaParseError, ParseLimits, parse_cda, xpath_of
from testbed.cda._schema import SCHEMAS, cda_schema
from testbed.cda._schematron import SchematronError
from testbed.cda.validator import CdaValidator, validate_schema_only
from testbed.cdacontent import BindingSpec, CdaContent, CodeSystemSpec, DocumentSpec, SectionSpec

__all__ = [
    "SCHEMAS",
    "BindingSpec",
    "CdaContent",
    "CdaParseError",
    "CdaValidator",
    "CodeSystemSpec",
    "DocumentSpec",
    "ParseLimits",
    "SchematronError",
    "SectionSpec",
    "cda_schema",
    "parse_cda",
    "validate_schema_only",
    "xpath_of",
]
