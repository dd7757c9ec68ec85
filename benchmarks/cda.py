"""CDA figures on one core, over the synthetic documents of 40 generated patients (all five types).

- cda_schema_schematron: parse + CDA XSD (SDTC) + header and document-type schematrons, documents/s
  (the issue's target: at least 200/s);
- cda_validate: the whole CdaValidator.validate (adds terminology bindings, code systems, units and
  identifiers), documents/s;
- cda_render: CdaRenderer documents/s;
- cda_schematron_saxonche: the same compiled schematrons run by saxonche (serialise, Saxon parse,
  transform), documents/s: the comparison behind the choice of libxslt (see profiles/ma.smr.cda/README.md).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.cda import CdaValidator, parse_cda  # noqa: E402
from testbed.cda._schema import schema_issues  # noqa: E402
from testbed.national import NationalContent  # noqa: E402
from testbed.packages import PackageRegistry  # noqa: E402
from testbed.synthetic.cda import CdaRenderer  # noqa: E402
from testbed.synthetic.journey import generate_patient  # noqa: E402

CONTENT = ROOT / "profiles" / "ma.smr.cda"
CORE = ROOT / "profiles" / "ma.smr.core"


def _rate(step: Callable[[bytes], object], docs: list[bytes], seconds: float) -> float:
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for doc in docs:
            step(doc)
        best = max(best, len(docs) / (time.perf_counter() - start))
    return best


def run(full: bool = False) -> list[dict]:
    """Figures as ``{"name", "value", "unit"}`` dicts."""
    seconds = 10.0 if full else 2.0
    with tempfile.TemporaryDirectory() as tmp:
        registry = PackageRegistry(cache_dir=Path(tmp))
        registry.load_core()
        registry.load(CORE)
        validator = CdaValidator.from_registry(registry, content=CONTENT, cache_dir=Path(tmp))
        renderer = CdaRenderer(NationalContent.from_registry(registry), content=CONTENT)
        records = [r for r in (generate_patient(20251, i) for i in range(40)) if r.identity.ins]
        docs = [xml for record in records for _, xml in renderer.documents(record)]
        header = validator.header_template
        by_type = {}
        for xml in docs:
            tree = parse_cda(xml)
            declared = [t.get("root") for t in tree.getroot().findall("{urn:hl7-org:v3}templateId")]
            by_type[xml] = [validator.schematrons[t] for t in dict.fromkeys([header, *declared])]

        def schema_and_schematron(xml: bytes) -> None:
            tree = parse_cda(xml)
            schema_issues(tree, ())
            for schematron in by_type[xml]:
                schematron.run(tree)

        figures = [
            {
                "name": "cda_schema_schematron",
                "value": _rate(schema_and_schematron, docs, seconds),
                "unit": "docs/s",
            },
            {
                "name": "cda_validate",
                "value": _rate(lambda x: validator.validate(x), docs, seconds),
                "unit": "docs/s",
            },
            {
                "name": "cda_render",
                "value": _rate_records(renderer, records, seconds) * len(docs) / len(records),
                "unit": "docs/s",
            },
            {"name": "cda_documents_in_sample", "value": len(docs), "unit": "docs"},
        ]

        def schematron_only(xml: bytes) -> None:
            tree = parse_cda(xml)
            for schematron in by_type[xml]:
                schematron.run(tree)

        figures.append(
            {
                "name": "cda_schematron_libxslt",
                "value": _rate(schematron_only, docs, seconds),
                "unit": "docs/s",
            }
        )
        saxon = _saxon_rate(docs, by_type, validator, seconds)
        if saxon is not None:
            figures.append({"name": "cda_schematron_saxonche", "value": saxon, "unit": "docs/s"})
        return figures


def _rate_records(renderer: CdaRenderer, records: list, seconds: float) -> float:
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for record in records:
            renderer.documents(record)
        best = max(best, len(records) / (time.perf_counter() - start))
    return best


def _saxon_rate(docs: list[bytes], by_type: dict, validator: CdaValidator, seconds: float) -> float | None:
    try:
        from saxonche import PySaxonProcessor
    except ImportError:
        return None
    from lxml import etree

    processor = PySaxonProcessor(license=False)
    xslt = processor.new_xslt30_processor()
    compiled = {
        s.template: xslt.compile_stylesheet(stylesheet_text=etree.tostring(s.xslt, encoding="unicode"))
        for s in validator.schematrons.values()
    }

    def run_one(xml: bytes) -> None:
        node = processor.parse_xml(xml_text=xml.decode("utf-8"))
        for schematron in by_type[xml]:
            compiled[schematron.template].transform_to_string(xdm_node=node)

    return _rate(run_one, docs, min(seconds, 3.0))
