"""The one lxml parser configuration for untrusted XML (FHIR XML, CDA): no DTD, entities, files or network."""

from __future__ import annotations

from lxml import etree


def safe_xml_parser(*, keep_processing_instructions: bool = False) -> etree.XMLParser:
    """A new parser that never loads a DTD, expands an entity or reaches a file or the network.

    A new parser per call: lxml parsers are not thread-safe, and they are cheap to build. Callers still
    refuse documents that carry a DOCTYPE (FHIR and the framework forbid DTDs). Checkers that must see
    processing instructions to refuse them (the XHTML narrative) keep them.
    """
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_pis=not keep_processing_instructions,
        collect_ids=False,
    )
