"""FHIR XML <-> JSON: each rule of the R4 XML and JSON formats, and each refusal, on hand-written snippets."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from testbed.core.errors import InputError, PackageError
from testbed.fhir.xml import FhirDecimal, FhirXmlConverter, XmlFormatError, parse_xml_safely
from testbed.packages import PackageRegistry

NS = 'xmlns="http://hl7.org/fhir"'
XHTML = "http://www.w3.org/1999/xhtml"
OBS = '<status value="final"/><code><text value="x"/></code>'


@pytest.fixture(scope="module")
def converter(registry: PackageRegistry) -> FhirXmlConverter:
    return FhirXmlConverter(registry)


def xml(body: str, root: str = "Patient", attrs: str = NS) -> bytes:
    return f"<{root} {attrs}>{body}</{root}>".encode()


def refused(converter: FhirXmlConverter, data: bytes) -> XmlFormatError:
    with pytest.raises(XmlFormatError) as info:
        converter.to_json(data, "snippet.xml")
    return info.value


# --------------------------------------------------------------------------- the rules


def test_root_is_the_resource_type_and_primitives_are_value_attributes(converter: FhirXmlConverter) -> None:
    out = converter.to_json(xml('<id value="p1"/><active value="true"/><gender value="female"/>'))
    assert out == {"resourceType": "Patient", "id": "p1", "active": True, "gender": "female"}
    assert list(out) == ["resourceType", "id", "active", "gender"]


def test_repeating_elements_are_arrays_even_with_one_item(converter: FhirXmlConverter) -> None:
    out = converter.to_json(xml('<name><family value="Alaoui"/><given value="Amina"/></name>'))
    assert out["name"] == [{"family": "Alaoui", "given": ["Amina"]}]
    single = converter.to_json(xml('<maritalStatus><text value="married"/></maritalStatus>'))
    assert single["maritalStatus"] == {"text": "married"}


def test_primitive_with_id_and_extension_goes_to_underscore_sibling(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<birthDate id="b1" value="1970-03-30">'
            '<extension url="http://example.org/text"><valueString value="Easter 1970"/></extension>'
            "</birthDate>"
        )
    )
    assert out["birthDate"] == "1970-03-30"
    assert out["_birthDate"] == {
        "id": "b1",
        "extension": [{"url": "http://example.org/text", "valueString": "Easter 1970"}],
    }
    assert list(out) == ["resourceType", "birthDate", "_birthDate"]


def test_primitive_arrays_with_extensions_are_aligned_with_nulls(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<name><given value="A"/>'
            '<given><extension url="http://example.org/x"><valueBoolean value="true"/></extension></given>'
            '<given id="g3" value="C"/></name>'
        )
    )
    name = out["name"][0]
    assert name["given"] == ["A", None, "C"]
    assert name["_given"] == [
        None,
        {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]},
        {"id": "g3"},
    ]
    back = converter.to_json(converter.to_xml(out))
    assert back == out


def test_primitive_with_extension_only_has_no_plain_value(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<gender><extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason">'
            '<valueCode value="unknown"/></extension></gender>'
        )
    )
    assert "gender" not in out
    assert out["_gender"]["extension"][0]["valueCode"] == "unknown"


def test_element_id_attribute_and_extension_url_attribute(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<extension url="http://example.org/ext"><valueInteger value="3"/></extension>'
            '<name id="n1"><family value="X"/></name>'
        )
    )
    assert out["extension"] == [{"url": "http://example.org/ext", "valueInteger": 3}]
    assert out["name"] == [{"id": "n1", "family": "X"}]


def test_numbers_and_booleans_become_json_numbers_and_booleans(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<status value="final"/><code><text value="Hb"/></code>'
            '<valueQuantity><value value="1.50"/><unit value="g/dL"/></valueQuantity>'
            '<referenceRange><low><value value="-2e3"/></low>'
            '<high><value value="12"/></high></referenceRange>',
            root="Observation",
        )
    )
    value = out["valueQuantity"]["value"]
    assert isinstance(value, FhirDecimal) and isinstance(value, float)
    assert value == 1.5 and value.lexical == "1.50" and repr(value) == "1.50"
    assert json.dumps(value) == "1.5"
    assert out["referenceRange"][0]["low"]["value"] == -2000.0
    high = out["referenceRange"][0]["high"]["value"]
    assert high == 12 and high.lexical == "12"
    assert b'<value value="1.50"/>' in converter.to_xml(out), "the decimal's precision survives XML -> XML"
    patient = converter.to_json(xml('<active value="false"/><multipleBirthInteger value="-2"/>'))
    assert patient["active"] is False
    assert patient["multipleBirthInteger"] == -2 and type(patient["multipleBirthInteger"]) is int


def test_writing_decimals_from_json_numbers(converter: FhirXmlConverter) -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    for value, lexical in ((1.5, "1.5"), (2, "2"), (Decimal("0.010"), "0.010"), (1e-07, "1e-07")):
        out = converter.to_xml({**obs, "valueQuantity": {"value": value}})
        assert f'<value value="{lexical}"/>'.encode() in out
        assert converter.to_json(out)["valueQuantity"]["value"].lexical == lexical


def test_choice_elements_are_resolved_by_type_suffix(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            OBS + '<effectiveDateTime value="2024-01-02"/>'
            '<valueCodeableConcept><text value="pos"/></valueCodeableConcept>',
            root="Observation",
        )
    )
    assert out["effectiveDateTime"] == "2024-01-02"
    assert out["valueCodeableConcept"] == {"text": "pos"}
    assert converter.to_json(xml('<deceasedBoolean value="true"/>'))["deceasedBoolean"] is True
    error = refused(converter, xml(OBS + '<valueFoo value="1"/>', root="Observation"))
    assert "unknown element 'valueFoo'" in str(error)


def test_contained_resources(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<contained><Organization><id value="org1"/><name value="CHU Rabat"/></Organization></contained>'
            '<contained><Practitioner><id value="pr1"/></Practitioner></contained>'
            '<managingOrganization><reference value="#org1"/></managingOrganization>'
        )
    )
    assert out["contained"] == [
        {"resourceType": "Organization", "id": "org1", "name": "CHU Rabat"},
        {"resourceType": "Practitioner", "id": "pr1"},
    ]
    assert converter.to_json(converter.to_xml(out)) == out


def test_bundle_entry_resources_and_response_outcome(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<type value="transaction-response"/>'
            '<entry><fullUrl value="urn:uuid:1"/><resource><Patient><id value="a"/></Patient></resource>'
            '<response><status value="201 Created"/></response></entry>'
            '<entry><response><status value="400"/><outcome><OperationOutcome><issue>'
            '<severity value="error"/>'
            '<code value="invalid"/></issue></OperationOutcome></outcome></response></entry>',
            root="Bundle",
        )
    )
    assert out["entry"][0]["resource"] == {"resourceType": "Patient", "id": "a"}
    outcome = out["entry"][1]["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] == [{"severity": "error", "code": "invalid"}]


def test_parameters_parameter_resource(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<parameter><name value="return"/><resource><Patient><active value="true"/></Patient></resource>'
            '</parameter><parameter><name value="count"/><valueInteger value="1"/></parameter>',
            root="Parameters",
        )
    )
    assert out["parameter"] == [
        {"name": "return", "resource": {"resourceType": "Patient", "active": True}},
        {"name": "count", "valueInteger": 1},
    ]


def test_narrative_div_becomes_a_string_of_xhtml(converter: FhirXmlConverter) -> None:
    data = (
        '<Patient xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<text><status value="generated"/>'
        f'<div xmlns="{XHTML}"><p>Amina <b>Alaoui</b> &amp; co</p><br/></div></text></Patient>'
    ).encode()
    out = converter.to_json(data)
    assert out["text"]["div"] == f'<div xmlns="{XHTML}"><p>Amina <b>Alaoui</b> &amp; co</p><br/></div>'
    assert "xsi" not in out["text"]["div"]
    back = converter.to_xml(out)
    assert f'<div xmlns="{XHTML}"><p>Amina <b>Alaoui</b> &amp; co</p><br/></div>'.encode() in back


def test_content_reference_elements(converter: FhirXmlConverter) -> None:
    out = converter.to_json(
        xml(
            '<status value="active"/>'
            '<item><linkId value="1"/><type value="group"/>'
            '<item><linkId value="1.1"/><type value="string"/>'
            '<item><linkId value="1.1.1"/><type value="display"/></item></item></item>',
            root="Questionnaire",
        )
    )
    inner = out["item"][0]["item"][0]
    assert inner["linkId"] == "1.1"
    assert inner["item"] == [{"linkId": "1.1.1", "type": "display"}]


def test_comments_instructions_and_schema_location_are_ignored(converter: FhirXmlConverter) -> None:
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- a comment -->\n<?xml-stylesheet href="x.xsl"?>\n'
        b'<Patient xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="http://hl7.org/fhir fhir-all.xsd">\n'
        b'  <!-- before --><active value="true"/><!-- after -->\n</Patient>\n'
    )
    assert converter.to_json(data) == {"resourceType": "Patient", "active": True}


def test_other_encodings(converter: FhirXmlConverter) -> None:
    text = f'<?xml version="1.0" encoding="ISO-8859-1"?><Patient {NS}><name><family value="Benaïssa"/></name>'
    text += "</Patient>"
    assert converter.to_json(text.encode("iso-8859-1"))["name"][0]["family"] == "Benaïssa"
    utf16 = f'<?xml version="1.0" encoding="UTF-16"?><Patient {NS}><gender value="male"/></Patient>'
    assert converter.to_json(utf16.encode("utf-16"))["gender"] == "male"


def test_attribute_whitespace_and_line_breaks_survive(converter: FhirXmlConverter) -> None:
    patient = {"resourceType": "Patient", "name": [{"text": '  line 1\nline 2\ttab "q" <&> '}]}
    out = converter.to_xml(patient)
    assert b"&#10;" in out and b"&#9;" in out and b"&quot;q&quot;" in out
    assert converter.to_json(out) == patient


def test_xml_output_follows_definition_order(converter: FhirXmlConverter) -> None:
    shuffled = {
        "gender": "male",
        "name": [{"given": ["Ali"], "family": "Idrissi", "use": "official"}],
        "active": True,
        "id": "p",
        "resourceType": "Patient",
    }
    out = converter.to_xml(shuffled).decode()
    tags = ("<id ", "<active ", "<name>", "<use ", "<family ", "<given ", "<gender ")
    positions = [out.index(tag) for tag in tags]
    assert positions == sorted(positions)
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Patient xmlns="http://hl7.org/fhir">\n')
    assert out.splitlines()[2] == '  <id value="p"/>'


# --------------------------------------------------------------------------- refusals: unsafe XML


def test_external_entity_is_refused(converter: FhirXmlConverter) -> None:
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&xxe;"/></name></Patient>'
    )
    error = refused(converter, data)
    assert "DOCTYPE declaration is not allowed" in str(error) and error.line == 2
    assert "root:" not in str(error)


def test_external_entity_in_content_is_refused(converter: FhirXmlConverter) -> None:
    data = (
        b'<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
        b'<Patient xmlns="http://hl7.org/fhir">&xxe;</Patient>'
    )
    assert "DOCTYPE" in str(refused(converter, data))


def test_billion_laughs_is_refused_quickly(converter: FhirXmlConverter) -> None:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    data = (
        f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(levels)}]>'
        f'<Patient xmlns="http://hl7.org/fhir"><name><family value="&lol9;"/></name></Patient>'
    ).encode()
    start = time.perf_counter()
    error = refused(converter, data)
    assert time.perf_counter() - start < 1.0
    assert "entity" in str(error) and "DOCTYPE" in str(error)


def test_external_dtd_is_refused_without_network(converter: FhirXmlConverter) -> None:
    data = b'<!DOCTYPE Patient SYSTEM "http://attacker.invalid/x.dtd"><Patient xmlns="http://hl7.org/fhir"/>'
    assert "DOCTYPE" in str(refused(converter, data))


def test_parse_xml_safely_accepts_plain_xml_and_refuses_dtd() -> None:
    root = parse_xml_safely(b"<a><!-- c --><b/></a>")
    assert root.tag == "a" and len(root) == 2
    with pytest.raises(XmlFormatError, match="DOCTYPE"):
        parse_xml_safely(b"<!DOCTYPE a><a/>")
    with pytest.raises(XmlFormatError, match="expected XML as bytes"):
        parse_xml_safely("<a/>")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- refusals: not FHIR XML


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"resourceType": "Patient"}', "not XML at all"),
        (b"", "empty"),
        (b"\x00\xff\xfe binary", "not"),
        (b'<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>', "not well-formed XML"),
        (b"<Patient><active value='true'/></Patient>", "in no namespace"),
    ],
)
def test_not_xml_or_broken_xml(converter: FhirXmlConverter, data: bytes, expected: str) -> None:
    error = refused(converter, data)
    assert expected in str(error)
    assert str(error).startswith("snippet.xml: ")


def test_errors_are_input_errors_and_value_errors(converter: FhirXmlConverter) -> None:
    error = refused(converter, b"nope")
    assert isinstance(error, InputError) and isinstance(error, ValueError)
    assert error.line == 1 and error.column == 1


def test_wrong_namespace_on_root(converter: FhirXmlConverter) -> None:
    error = refused(converter, b'<Patient xmlns="http://hl7.org/fhir/R4"><active value="true"/></Patient>')
    assert "namespace 'http://hl7.org/fhir/R4'" in str(error) and error.location == "/Patient"


def test_wrong_namespace_on_child_and_on_div(converter: FhirXmlConverter) -> None:
    error = refused(converter, xml('<active xmlns="urn:other" value="true"/>'))
    assert "element 'active' is in namespace 'urn:other'" in str(error)
    error = refused(converter, xml('<text><status value="generated"/><div>plain</div></text>'))
    assert f"it must be in '{XHTML}'" in str(error) and error.location == "/Patient/text/div"


def test_unknown_element_is_named_with_its_location_line_and_column(converter: FhirXmlConverter) -> None:
    data = (
        b'<Patient xmlns="http://hl7.org/fhir">\n'
        b"  <name>\n"
        b'    <family value="X"/>\n'
        b'    <nickname value="Jo"/>\n'
        b"  </name>\n"
        b"</Patient>\n"
    )
    error = refused(converter, data)
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert "unknown element 'nickname'" in problem.message
    assert (problem.line, problem.column) == (4, 5)
    assert problem.location == "/Patient/name[1]/nickname"
    assert problem.expression == "Patient.name[0].nickname"
    assert str(error) == (
        "snippet.xml: line 4, column 5, at /Patient/name[1]/nickname: unknown element 'nickname': "
        "FHIR R4 defines no such element in HumanName"
    )


def test_every_problem_is_reported(converter: FhirXmlConverter) -> None:
    error = refused(converter, xml('<foo value="1"/><active value="yes"/><name><bar/></name>'))
    messages = [p.message for p in error.problems]
    assert len(messages) == 3
    assert "unknown element 'foo'" in messages[0]
    assert "'yes' is not a valid boolean" in messages[1]
    assert "unknown element 'bar'" in messages[2]
    assert "3 problems" in str(error)


@pytest.mark.parametrize(
    ("body", "root", "fragment"),
    [
        ('<active value="yes"/>', "Patient", "'yes' is not a valid boolean"),
        ('<active value="True"/>', "Patient", "'True' is not a valid boolean"),
        ('<multipleBirthInteger value="1.5"/>', "Patient", "'1.5' is not a valid integer"),
        ('<multipleBirthInteger value="01"/>', "Patient", "'01' is not a valid integer"),
        ('<multipleBirthInteger value=" 1"/>', "Patient", "' 1' is not a valid integer"),
        ('<active value=""/>', "Patient", "must not be empty"),
        ('<name id=""><family value="X"/></name>', "Patient", "must not be empty"),
        ('<type value="searchset"/><total value="-1"/>', "Bundle", "'-1' is not a valid unsignedInt"),
        ('<telecom><rank value="0"/></telecom>', "Patient", "'0' is not a valid positiveInt"),
        *[
            (
                OBS + f'<valueQuantity><value value="{bad}"/></valueQuantity>',
                "Observation",
                f"'{bad}' is not a valid decimal",
            )
            for bad in ("1,5", ".5", "NaN", "1.", "+1", "1e")
        ],
    ],
)
def test_invalid_lexical_forms_of_numbers_and_booleans(
    converter: FhirXmlConverter, body: str, root: str, fragment: str
) -> None:
    error = refused(converter, xml(body, root=root))
    assert fragment in str(error)
    assert error.location.endswith(("/@value", "/@id"))


@pytest.mark.parametrize(
    ("body", "fragment", "location"),
    [
        ('<gender value="male">text</gender>', "text content 'text' is not allowed", "/Patient/gender"),
        ("<gender/>", "element 'gender' is empty", "/Patient/gender"),
        ('<gender value="male"/><gender value="female"/>', "at most one is allowed", "/Patient/gender[2]"),
        ('<gender value="male"/><active value="true"/>', "'active' is out of order", "/Patient/active"),
        (
            '<deceasedBoolean value="true"/><deceasedDateTime value="2020"/>',
            "both given for deceased[x]",
            "/Patient/deceasedDateTime",
        ),
        ('<name foo="x"><family value="X"/></name>', "unknown attribute 'foo'", "/Patient/name[1]/@foo"),
        ('<name><id value="x"/></name>', "'id' must be an XML attribute here", "/Patient/name[1]/id"),
        (
            "<contained><Patient/><Patient/></contained>",
            "exactly one resource element, found 2",
            "/Patient/contained[1]",
        ),
        (
            "<contained><Foo/></contained>",
            "'Foo' is not a FHIR R4 resource type",
            "/Patient/contained[1]/Foo",
        ),
    ],
)
def test_structural_problems(converter: FhirXmlConverter, body: str, fragment: str, location: str) -> None:
    error = refused(converter, xml(body))
    assert fragment in str(error)
    assert error.location == location


def test_unknown_or_abstract_resource_type(converter: FhirXmlConverter) -> None:
    assert "not a FHIR R4 resource type" in str(refused(converter, b'<Foo xmlns="http://hl7.org/fhir"/>'))
    assert "abstract" in str(refused(converter, b'<DomainResource xmlns="http://hl7.org/fhir"/>'))
    assert "not a FHIR R4 resource type" in str(
        refused(converter, b'<HumanName xmlns="http://hl7.org/fhir"/>')
    )


def test_resource_id_attribute_is_not_allowed(converter: FhirXmlConverter) -> None:
    error = refused(converter, b'<Patient xmlns="http://hl7.org/fhir" id="p1"/>')
    assert "unknown attribute 'id'" in str(error)


# --------------------------------------------------------------------------- to_xml refusals


@pytest.mark.parametrize(
    ("resource", "fragment"),
    [
        ({"resourceType": "Patient", "nickname": "Jo"}, "unknown property 'nickname'"),
        ({"resourceType": "Nope"}, "not a concrete FHIR R4 resource type"),
        ({"resourceType": "Patient", "active": "true"}, "a boolean must be JSON true or false"),
        ({"resourceType": "Patient", "multipleBirthInteger": 2.0}, "must be a JSON integer"),
        ({"resourceType": "Patient", "gender": 1}, "must be a JSON string"),
        ({"resourceType": "Patient", "gender": ""}, "must not be an empty string"),
        ({"resourceType": "Patient", "name": {"family": "X"}}, "must be a JSON array"),
        ({"resourceType": "Patient", "gender": ["male"]}, "must not be an array"),
        ({"resourceType": "Patient", "maritalStatus": {}}, "empty object"),
        ({"resourceType": "Patient", "name": [{"given": ["A"], "_given": [None, None]}]}, "same length"),
        ({"resourceType": "Patient", "name": [{"given": [None]}]}, "both null"),
        ({"resourceType": "Patient", "_name": [{}]}, "only allowed for primitive"),
        ({"resourceType": "Patient", "deceasedBoolean": True, "deceasedDateTime": "2020"}, "both given"),
        ({"resourceType": "Patient", "text": {"status": "generated", "div": "<p>x</p>"}}, "XHTML namespace"),
        ({"resourceType": "Patient", "text": {"div": "<div xmlns='x'"}}, "not well-formed"),
        ({"resourceType": "Patient", "gender": "ma\x01le"}, "U+0001 cannot be written"),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "valueQuantity": {"value": float("nan")},
            },
            "not a finite number",
        ),
    ],
)
def test_to_xml_refuses_what_is_not_fhir_json(
    converter: FhirXmlConverter, resource: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(XmlFormatError) as info:
        converter.to_xml(resource)
    assert fragment in str(info.value)


def test_to_xml_locations_are_fhirpath(converter: FhirXmlConverter) -> None:
    with pytest.raises(XmlFormatError) as info:
        converter.to_xml({"resourceType": "Patient", "name": [{"family": "A"}, {"given": [True]}]})
    assert info.value.problems[0].expression == "Patient.name[1].given[0]"


# --------------------------------------------------------------------------- package loader


def test_package_loader_reads_xml_with_the_converter(
    converter: FhirXmlConverter, tmp_path: Path, registry: PackageRegistry
) -> None:
    folder = tmp_path / "ig"
    folder.mkdir()
    sd = registry.resolve("http://hl7.org/fhir/StructureDefinition/patient-birthTime")
    assert sd is not None
    (folder / "ext.xml").write_bytes(converter.to_xml({**sd, "url": "http://example.org/ext", "id": "ext"}))
    loader = PackageRegistry(cache_dir=tmp_path / "cache")
    loader.set_xml_reader(converter.to_json)
    loader.load(folder)
    loaded = loader.resolve("http://example.org/ext")
    assert loaded is not None and loaded["snapshot"]["element"][0]["path"] == "Extension"
    (tmp_path / "bad.xml").write_bytes(
        b'<StructureDefinition xmlns="http://hl7.org/fhir"><foo/></StructureDefinition>'
    )
    with pytest.raises(PackageError, match="unknown element 'foo'"):
        loader.load(tmp_path / "bad.xml")


def test_too_deep_nesting_is_a_clear_error(converter: FhirXmlConverter) -> None:
    depth = 300
    body = '<extension url="u">' * depth + '<valueString value="x"/>' + "</extension>" * depth
    assert "Excessive depth" in str(refused(converter, xml(body)))
    extension: dict[str, Any] = {"url": "u", "valueString": "x"}
    for _ in range(2000):
        extension = {"url": "u", "extension": [extension]}
    with pytest.raises(XmlFormatError, match="nested too deeply"):
        converter.to_xml({"resourceType": "Patient", "extension": [extension]})


def test_error_survives_pickling(converter: FhirXmlConverter) -> None:
    import pickle

    error = refused(converter, xml("<foo/>"))
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.problems == error.problems
    decimal = FhirDecimal("1.50")
    assert pickle.loads(pickle.dumps(decimal)).lexical == "1.50"
