"""Safe parsing of CDA input: DTDs, entity expansion, external entities refused; limits; XPath locations."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from testbed.cda import CdaParseError, CdaValidator, ParseLimits, parse_cda, xpath_of
from testbed.core.issues import Severity

MINIMAL = (
    b'<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"><title>T</title></ClinicalDocument>'
)
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol9;</title></ClinicalDocument>'
)


def _xxe(target: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE ClinicalDocument [ <!ENTITY xxe SYSTEM "{target}"> ]>\n'
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&xxe;</title></ClinicalDocument>'
    ).encode()


def test_a_document_parses_and_keeps_line_numbers() -> None:
    tree = parse_cda(MINIMAL)
    title = tree.getroot()[0]
    assert title.sourceline == 2
    assert xpath_of(title) == "/ClinicalDocument/title[1]"


def test_xpath_counts_same_named_siblings_and_prefixes_sdtc() -> None:
    xml = (
        b'<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc"><recordTarget><patientRole>'
        b'<id root="1"/><id root="2"/><patient><sdtc:deceasedInd value="true"/></patient></patientRole>'
        b"</recordTarget></ClinicalDocument>"
    )
    role = parse_cda(xml).getroot()[0][0]
    assert xpath_of(role[1]) == "/ClinicalDocument/recordTarget[1]/patientRole[1]/id[2]"
    assert xpath_of(role[2][0]).endswith("/patient[1]/sdtc:deceasedInd[1]")


def test_billion_laughs_is_refused_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(CdaParseError) as err:
        parse_cda(LAUGHS, "laughs.xml")
    assert err.value.kind == "dtd"
    assert err.value.line == 2
    assert "DOCTYPE" in str(err.value) and "laughs.xml" in str(err.value)
    assert time.perf_counter() - start < 0.5


def test_external_entity_reads_no_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    with pytest.raises(CdaParseError) as err:
        parse_cda(_xxe(secret.as_uri()))
    assert err.value.kind == "external-entity"
    assert "TOP-SECRET-VALUE" not in str(err.value)


def test_external_entity_makes_no_network_access() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.3)
    port = server.getsockname()[1]
    hits: list[object] = []

    def accept() -> None:
        try:
            hits.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        for doc in (
            _xxe(f"http://127.0.0.1:{port}/entity"),
            f'<!DOCTYPE ClinicalDocument SYSTEM "http://127.0.0.1:{port}/cda.dtd">\n<ClinicalDocument/>'.encode(),
        ):
            with pytest.raises(CdaParseError) as err:
                parse_cda(doc)
            assert err.value.kind == "external-entity"
        thread.join()
    finally:
        server.close()
    assert hits == []


def test_the_validator_reports_refusals_with_requirements(
    cda_validator: CdaValidator, tmp_path: Path
) -> None:
    xxe = cda_validator.validate(_xxe((tmp_path / "x").as_uri()), "xxe.xml")
    assert not xxe.valid and xxe.standard == "cda"
    [issue] = xxe.issues
    assert issue.severity is Severity.FATAL and issue.code.value == "security"
    assert {"MA-CDA-035", "MA-CDA-036"} <= set(issue.requirements)
    [laughs] = cda_validator.validate(LAUGHS, "laughs.xml").issues
    assert "MA-CDA-035" in laughs.requirements and laughs.rule == "cda-parse:dtd"


def test_utf16_doctype_is_refused() -> None:
    doc = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n<ClinicalDocument/>'
    with pytest.raises(CdaParseError) as err:
        parse_cda(doc.encode("utf-16"))
    assert err.value.kind == "dtd"


def test_doctype_hidden_after_a_tricky_comment_is_still_refused() -> None:
    doc = (
        b'<?xml version="1.0"?>\n<!-- see <b> --><!DOCTYPE x [<!ENTITY a "b">]>\n'
        b"<ClinicalDocument>&a;</ClinicalDocument>"
    )
    with pytest.raises(CdaParseError) as err:
        parse_cda(doc)
    assert err.value.kind in ("dtd", "external-entity")


def test_an_undeclared_entity_is_not_well_formed() -> None:
    with pytest.raises(CdaParseError) as err:
        parse_cda(b'<ClinicalDocument xmlns="urn:hl7-org:v3">&nope;</ClinicalDocument>')
    assert err.value.kind == "syntax" and err.value.line == 1


@pytest.mark.parametrize(
    ("data", "kind"),
    [(b"", "empty"), (b"   \n", "empty"), (b"MSH|^~\\&|", "syntax"), (b"<a><b></a>", "syntax")],
)
def test_unreadable_input_is_a_clear_error(data: bytes, kind: str) -> None:
    with pytest.raises(CdaParseError) as err:
        parse_cda(data)
    assert err.value.kind == kind


def test_limits_on_size_elements_and_depth() -> None:
    with pytest.raises(CdaParseError, match="bytes"):
        parse_cda(MINIMAL, limits=ParseLimits(max_bytes=50))
    many = b"<ClinicalDocument>" + b"<x/>" * 100 + b"</ClinicalDocument>"
    with pytest.raises(CdaParseError, match="elements") as err:
        parse_cda(many, limits=ParseLimits(max_elements=50))
    assert err.value.kind == "limit"
    deep = b"<a>" * 5000 + b"</a>" * 5000
    with pytest.raises(CdaParseError) as err:
        parse_cda(deep)
    assert err.value.kind in ("limit", "syntax")


def test_garbage_never_crashes_the_validator(cda_validator: CdaValidator) -> None:
    for data in (b"", b"\x00\xff\xfe garbage", b"<Patient xmlns='http://hl7.org/fhir'/>", b"<a>" * 3000):
        outcome = cda_validator.validate(data, "junk")
        assert not outcome.valid
        assert outcome.issues[0].severity is Severity.FATAL
