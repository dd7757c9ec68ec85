"""Session fixtures of the CDA tests: R4 core + ma.smr.core, the validator, the renderer, good documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.cda import CdaContent, CdaValidator
from testbed.national import NationalContent
from testbed.packages import PackageRegistry
from testbed.synthetic.cda import CdaRenderer
from testbed.synthetic.record import PatientRecord
from tests.unit.cda._records import full_record

ROOT = Path(__file__).resolve().parents[3]
PROFILE = ROOT / "profiles" / "ma.smr.core"
CONTENT = ROOT / "profiles" / "ma.smr.cda"


@pytest.fixture(scope="session")
def cda_registry(tmp_path_factory: pytest.TempPathFactory) -> PackageRegistry:
    reg = PackageRegistry(cache_dir=tmp_path_factory.getbasetemp() / "registry-cache")
    reg.load_core()
    reg.load(PROFILE)
    return reg


@pytest.fixture(scope="session")
def cda_national(cda_registry: PackageRegistry) -> NationalContent:
    return NationalContent.from_registry(cda_registry)


@pytest.fixture(scope="session")
def cda_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cda-cache")


@pytest.fixture(scope="session")
def cda_validator(cda_registry: PackageRegistry, cda_cache: Path) -> CdaValidator:
    return CdaValidator.from_registry(cda_registry, content=CONTENT, cache_dir=cda_cache)


@pytest.fixture(scope="session")
def cda_content(cda_validator: CdaValidator) -> CdaContent:
    return cda_validator.content


@pytest.fixture(scope="session")
def renderer(cda_national: NationalContent) -> CdaRenderer:
    return CdaRenderer(cda_national, content=CONTENT)


@pytest.fixture(scope="session")
def record(cda_content: CdaContent) -> PatientRecord:
    return full_record(cda_content)


@pytest.fixture(scope="session")
def good_docs(renderer: CdaRenderer, record: PatientRecord) -> dict[str, bytes]:
    """One clean document per document type, by ma-document-type code."""
    return {doc.type: xml for doc, xml in renderer.documents(record)}
