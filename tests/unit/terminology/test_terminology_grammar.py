"""Native checks of grammar-based code systems: UCUM, BCP-47 language tags, BCP-13 media types."""

from __future__ import annotations

import pytest

from testbed.terminology import check_language_tag, check_media_type, check_ucum


@pytest.mark.parametrize(
    "unit",
    [
        "mg",
        "mg/dL",
        "10*3/uL",
        "mm[Hg]",
        "/min",
        "%",
        "kg/m2",
        "m2",
        "s-1",
        "10*-3",
        "cm[H2O]",
        "[in_i]",
        "[lb_av]",
        "Cel",
        "[degF]",
        "mL/min/{1.73_m2}",
        "{score}",
        "{Negative Control}",
        "mg/(24.h)",
        "U{25Cel}/L",
        "g/(8.h){shift}",
        "1",
        "/100{WBC}",
        "B[10.nV]",
        "daL",
        "KiBy",
        "[iU]/mL",
        "ug/g{x y}",
    ],
)
def test_valid_ucum(unit: str) -> None:
    assert check_ucum(unit).valid is True


@pytest.mark.parametrize(
    ("unit", "why"),
    [
        ("", "empty"),
        ("mg//dL", "unexpected '/'"),
        ("mg/", "missing"),
        ("(mg", "missing ')'"),
        ("mg)", "unexpected ')'"),
        ("mm Hg", "' '"),
        ("m[Hg", "never closed"),
        ("{abc", "never closed"),
        ("2mg", "mixes a number"),
        ("s-", "sign"),
        ("10+", "number cannot take an exponent"),
        ("k[in_i]", "prefix"),
        ("m{a{b}}", "'{'"),
        ("mg\u00b5", "not allowed"),
    ],
)
def test_invalid_ucum(unit: str, why: str) -> None:
    result = check_ucum(unit)
    assert result.valid is False and why in result.message


@pytest.mark.parametrize("unit", ["foo", "mg/[bar]", "kfoo", "Mb"])
def test_unknown_ucum_atom_is_not_checkable(unit: str) -> None:
    result = check_ucum(unit)
    assert result.valid is None and "atom table" in result.message


@pytest.mark.parametrize(
    ("tag", "valid"),
    [
        ("fr", True),
        ("ar-MA", True),
        ("AR-ma", True),
        ("zh-Hant-TW", True),
        ("sr-Latn", True),
        ("i-klingon", True),
        ("x-private", True),
        ("en-US-x-twain", True),
        ("zgh", None),
        ("es-419", None),
        ("de-CH-1901", None),
        ("en-a-bbb", None),
        ("ar-Qaaa", None),
        ("zh-yue", None),
        ("xx", False),
        ("qq-MA", False),
        ("", False),
        ("e", False),
        ("fr_MA", False),
        ("fr-", False),
        ("en-US-", False),
        ("toolonglanguage", False),
        ("de-1901-1901", False),
        ("en-a-bbb-a-ccc", False),
    ],
)
def test_language_tags(tag: str, valid: bool | None) -> None:
    assert check_language_tag(tag).valid is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("application/pdf", True),
        ("text/plain; charset=UTF-8", True),
        ("image/svg+xml", True),
        ("application/vnd.ms-excel", True),
        ('multipart/form-data; boundary="a b"', True),
        ("TEXT/HTML", True),
        ("chemical/x-pdb", None),
        ("pdf", False),
        ("text/", False),
        ("/plain", False),
        ("text/plain;", True),
        ("text/plain; charset", False),
        ("text /plain", False),
        ("text/pl ain", False),
    ],
)
def test_media_types(value: str, valid: bool | None) -> None:
    assert check_media_type(value).valid is valid
