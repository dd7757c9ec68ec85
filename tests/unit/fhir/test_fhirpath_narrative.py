"""htmlChecks(): the FHIR narrative XHTML rules (txt-1 structure, txt-2 content)."""

from __future__ import annotations

import pytest

from testbed.fhir._fhirpath_narrative import check_narrative, html_checks
from testbed.fhir.fhirpath import FhirPathEngine

NS = 'xmlns="http://www.w3.org/1999/xhtml"'


def div(body: str, attrs: str = "") -> str:
    return f"<div {NS}{attrs}>{body}</div>"


GOOD = [
    div("<p>Hello <b>world</b></p>"),
    div('<table border="1"><tr><td colspan="2">x</td></tr></table>'),
    div('<a href="http://example.org/x">link</a> <a name="top">anchor</a>'),
    div('<img src="data:image/png;base64,AAAA" alt="logo"/>'),
    div('<span style="color: red" class="c" id="i1" title="t">styled</span>'),
    div("text", ' xml:lang="fr" lang="fr"'),
    div("<ul><li>one</li></ul><!-- a comment --><pre>code</pre><br/>"),
    div("&lt;escaped&gt; &amp; &#160; fine"),
]

BAD_STRUCTURE = {
    "script": div("<script>alert(1)</script><p>x</p>"),
    "event handler": div('<p onclick="alert(1)">x</p>'),
    "event handler on root": div("x", ' onload="alert(1)"'),
    "javascript url": div('<a href="javascript:alert(1)">x</a>'),
    "javascript url, disguised": div('<a href=" JaVaScRiPt&#x09;:alert(1)">x</a>'),
    "vbscript url": div('<img src="vbscript:msgbox(1)" alt="x"/>'),
    "style expression": div('<p style="width: expression(alert(1))">x</p>'),
    "iframe": div('<iframe src="http://example.org"></iframe>x'),
    "form": div('<form action="x"><input type="text"/></form>x'),
    "object": div('<object data="x.swf"></object>x'),
    "body": div("<body>x</body>"),
    "link": div('<link rel="stylesheet" href="x.css"/>x'),
    "unknown attribute": div('<p data-x="1">x</p>'),
    "href on p": div('<p href="http://example.org">x</p>'),
    "root is not div": f"<p {NS}>x</p>",
    "root without namespace": "<div>x</div>",
    "root in another namespace": '<div xmlns="http://example.org">x</div>',
    "child in another namespace": div('<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>x'),
    "not well-formed": div("<p>x</b>"),
    "html entity": div("a&nbsp;b"),
    "doctype": f'<!DOCTYPE div [<!ENTITY e "x">]><div {NS}>&e;</div>',
    "billion laughs": (
        '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        f"<div {NS}>&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;</div>"
    ),
    "external entity": f'<!DOCTYPE div [<!ENTITY x SYSTEM "file:///etc/passwd">]><div {NS}>&x;</div>',
    "processing instruction": div("<?php echo 1; ?>x"),
}


@pytest.mark.parametrize("xhtml", GOOD)
def test_allowed_narratives_pass(xhtml: str) -> None:
    report = check_narrative(xhtml)
    assert report.ok, report
    assert html_checks(xhtml) is True


@pytest.mark.parametrize("name", sorted(BAD_STRUCTURE))
def test_forbidden_narratives_fail_txt_1(name: str) -> None:
    report = check_narrative(BAD_STRUCTURE[name])
    assert report.structure, name
    assert html_checks(BAD_STRUCTURE[name]) is False


def test_entities_are_never_expanded() -> None:
    for name in ("doctype", "billion laughs", "external entity"):
        report = check_narrative(BAD_STRUCTURE[name])
        assert not report.parsed
        assert "DOCTYPE" in report.structure[0]


@pytest.mark.parametrize(
    "xhtml",
    [div(""), div("   \n "), div("<p> </p><br/>"), div("<!-- only a comment -->"), 42],
)
def test_narrative_without_content_fails_txt_2(xhtml: object) -> None:
    report = check_narrative(xhtml)
    assert report.content or not report.parsed
    assert html_checks(xhtml) is False


def test_an_image_is_content() -> None:
    assert check_narrative(div('<img src="x.png" alt=""/>')).ok


def test_txt_1_and_txt_2_are_split_by_key() -> None:
    engine = FhirPathEngine()
    general = FhirPathEngine(use_native=False)

    def check(key: str, value: str, on: FhirPathEngine) -> bool | None:
        return on.check_constraint(
            key, "htmlChecks()", value, type_name="xhtml", resource=None, root_resource=None
        ).ok

    empty, script, broken = div(" "), BAD_STRUCTURE["script"], div("<p>")
    assert (check("txt-1", empty, engine), check("txt-2", empty, engine)) == (True, False)
    assert (check("txt-1", script, engine), check("txt-2", script, engine)) == (False, True)
    assert (check("txt-1", broken, engine), check("txt-2", broken, engine)) == (False, None)
    # the general evaluator's htmlChecks() applies every rule
    assert [check("txt-1", v, general) for v in (GOOD[0], empty, script)] == [True, False, False]


def test_failure_reason_names_the_problem() -> None:
    engine = FhirPathEngine()
    result = engine.check_constraint(
        "txt-1",
        "htmlChecks()",
        BAD_STRUCTURE["event handler"],
        type_name="xhtml",
        resource=None,
        root_resource=None,
    )
    assert result.ok is False
    assert result.reason and "onclick" in result.reason
