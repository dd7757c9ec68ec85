"""The FHIR breakers of :mod:`testbed.synthetic.mutations_fhir`: one function per deliberate error.

Each copies the Bundle entry it breaks (the input Bundle is never modified), breaks one thing and returns
the FHIRPath of the broken place in the Bundle. National systems and URLs come from the national content
package (:func:`testbed.synthetic._content.load_content`).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

from testbed.national import NationalContent
from testbed.synthetic._content import load_content
from testbed.synthetic.mutations import Mutated, NotApplicable

Json = dict[str, Any]
_LOINC = "http://loinc.org"
_UNKNOWN_SYSTEM = "urn:oid:1.2.3.4.5.6.7"  # under no national arc


def _national() -> NationalContent:
    return load_content()[1]


def _targets(bundle: Json, rtype: str, where: Callable[[Json], bool] | None = None) -> list[int]:
    found = []
    for i, entry in enumerate(bundle.get("entry") or []):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == rtype and (where is None or where(res)):
            found.append(i)
    return found


def _take(
    bundle: Json, rtype: str, rng: random.Random, where: Callable[[Json], bool] | None = None
) -> tuple[Json, int, Json]:
    """A copy of the Bundle whose chosen entry (of ``rtype``) is a deep copy, ready to break."""
    found = _targets(bundle, rtype, where)
    if not found:
        raise NotApplicable(f"no {rtype} entry to break")
    i = found[rng.randrange(len(found))]
    out = dict(bundle)
    out["entry"] = list(bundle["entry"])
    out["entry"][i] = copy.deepcopy(bundle["entry"][i])
    return out, i, out["entry"][i]["resource"]


def _at(i: int, path: str = "") -> str:
    return f"Bundle.entry[{i}].resource{'.' + path if path else ''}"


def _identifier(res: Json, key: str) -> int | None:
    system = _national().identifier(key).uri
    for j, ident in enumerate(res.get("identifier") or []):
        if ident.get("system") == system and ident.get("value"):
            return j
    return None


def _has(key: str) -> Callable[[Json], bool]:
    return lambda res: _identifier(res, key) is not None


# --- identifiers ---------------------------------------------------------------------------------


def ins_key(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng, _has("ins"))
    j = _identifier(res, "ins")
    assert j is not None
    value = res["identifier"][j]["value"]
    wrong = (int(value[-2:]) + 1 + rng.randrange(98)) % 100
    res["identifier"][j]["value"] = f"{value[:-2]}{wrong:02d}"
    return Mutated(out, _at(i, f"identifier[{j}].value"), f"INS key {value[-2:]} replaced by {wrong:02d}")


def ins_pattern(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng, _has("ins"))
    j = _identifier(res, "ins")
    assert j is not None
    value = res["identifier"][j]["value"]
    res["identifier"][j]["value"] = value[:-1]
    return Mutated(out, _at(i, f"identifier[{j}].value"), f"INS {value} cut to {len(value) - 1} digits")


def two_ins(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng, _has("ins"))
    j = _identifier(res, "ins")
    assert j is not None
    extra = copy.deepcopy(res["identifier"][j])
    body = f"{int(extra['value'][:10]) % 9_000_000_000 + 1_000_000_000:010d}"
    extra["value"] = f"{body}{97 - int(body) % 97:02d}"
    res["identifier"].insert(j + 1, extra)
    return Mutated(out, _at(i, "identifier"), f"second INS {extra['value']} added")


def cnie_pattern(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng, _has("cnie"))
    j = _identifier(res, "cnie")
    assert j is not None
    value = res["identifier"][j]["value"]
    res["identifier"][j]["value"] = value.lower() + "X"
    return Mutated(out, _at(i, f"identifier[{j}].value"), f"CNIE {value} made lower-case with a trailing X")


def unknown_system(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng, lambda r: bool(r.get("identifier")))
    j = rng.randrange(len(res["identifier"]))
    res["identifier"][j]["system"] = _UNKNOWN_SYSTEM
    return Mutated(out, _at(i, f"identifier[{j}]"), f"identifier system replaced by {_UNKNOWN_SYSTEM}")


def local_untyped(bundle: Json, rng: random.Random) -> Mutated:
    prefix = _national().local_system_prefix

    def local(res: Json) -> list[int]:
        return [
            j
            for j, x in enumerate(res.get("identifier") or [])
            if str(x.get("system", "")).startswith(prefix)
        ]

    out, i, res = _take(bundle, "Patient", rng, lambda r: bool(local(r)))
    j = local(res)[0]
    res["identifier"][j].pop("type", None)
    return Mutated(out, _at(i, f"identifier[{j}]"), "type (MR/PI) removed from the local identifier")


def no_national_id(bundle: Json, rng: random.Random) -> Mutated:
    national = _national()
    keep = {national.identifier(k).uri for k in ("cnss", "cnops") if k in national.identifiers}
    keep_prefix = national.passport_system_prefix
    out, i, res = _take(
        bundle, "Patient", rng, lambda r: any(x.get("system") in keep for x in r.get("identifier") or [])
    )
    res["identifier"] = [
        x
        for x in res["identifier"]
        if x.get("system") in keep or str(x.get("system", "")).startswith(keep_prefix)
    ]
    return Mutated(out, _at(i), "INS, CNIE, residence permit and local identifiers removed")


# --- patient demographics ------------------------------------------------------------------------


def remove(
    rtype: str, element: str, *, where: Callable[[Json], bool] | None = None
) -> Callable[[Json, random.Random], Mutated]:
    def apply(bundle: Json, rng: random.Random) -> Mutated:
        out, i, res = _take(bundle, rtype, rng, where or (lambda r: element in r))
        del res[element]
        return Mutated(out, _at(i, element), f"{rtype}.{element} removed")

    return apply


def no_family(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng, lambda r: any("family" in n for n in r.get("name") or []))
    j = next(k for k, n in enumerate(res["name"]) if "family" in n)
    del res["name"][j]["family"]
    return Mutated(out, _at(i, f"name[{j}].family"), "family name removed")


def _region_extension(res: Json) -> tuple[int, int] | None:
    url = _national().extension_url("addressRegion")
    for a, addr in enumerate(res.get("address") or []):
        for e, ext in enumerate(addr.get("extension") or []):
            if ext.get("url") == url:
                return a, e
    return None


def region_13(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng, lambda r: _region_extension(r) is not None)
    found = _region_extension(res)
    assert found is not None
    a, e = found
    res["address"][a]["extension"][e]["valueCoding"] = {
        "system": _national().code_system_url("region"),
        "code": "13",
    }
    return Mutated(out, _at(i, f"address[{a}].extension[{e}].value"), "region code 13 (there are 12 regions)")


def postal_code(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(
        bundle, "Patient", rng, lambda r: any("postalCode" in a for a in r.get("address") or [])
    )
    a = next(k for k, addr in enumerate(res["address"]) if "postalCode" in addr)
    value = res["address"][a]["postalCode"]
    res["address"][a]["postalCode"] = value[:4]
    return Mutated(out, _at(i, f"address[{a}].postalCode"), f"postal code {value} cut to {value[:4]}")


def country(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng, lambda r: bool(r.get("address")))
    res["address"][0]["country"] = "Maroc"
    return Mutated(out, _at(i, "address[0].country"), "country 'Maroc' instead of the ISO code")


def phone(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Patient", rng)
    bad = f"06{rng.randrange(10**8):08d}"
    phones = [j for j, t in enumerate(res.get("telecom") or []) if t.get("system") == "phone"]
    if phones:
        j = phones[0]
        res["telecom"][j]["value"] = bad
    else:
        res.setdefault("telecom", []).append({"system": "phone", "value": bad})
        j = len(res["telecom"]) - 1
    return Mutated(out, _at(i, f"telecom[{j}].value"), f"phone {bad} in national, not international, form")


def script_code(bundle: Json, rng: random.Random) -> Mutated:
    url = _national().extension_url("nameScript")

    def scripted(res: Json) -> list[tuple[int, int]]:
        return [
            (n, e)
            for n, name in enumerate(res.get("name") or [])
            for e, ext in enumerate(name.get("extension") or [])
            if ext.get("url") == url
        ]

    out, i, res = _take(bundle, "Patient", rng, lambda r: bool(scripted(r)))
    n, e = scripted(res)[0]
    res["name"][n]["extension"][e]["valueCode"] = "Latin"
    return Mutated(
        out, _at(i, f"name[{n}].extension[{e}].value"), "script code 'Latin' (ISO 15924 says Latn)"
    )


# --- other resources -----------------------------------------------------------------------------


def coverage_scheme(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Coverage", rng, lambda r: bool(r.get("type")))
    res["type"] = {"coding": [{"system": _national().code_system_url("coverageScheme"), "code": "RAMED"}]}
    return Mutated(
        out, _at(i, "type"), "coverage scheme RAMED (replaced by AMO-TADAMON, not in ma-coverage-scheme)"
    )


def org_no_inpe(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Organization", rng, _has("inpe"))
    j = _identifier(res, "inpe")
    assert j is not None
    del res["identifier"][j]
    if not res["identifier"]:
        del res["identifier"]
    return Mutated(out, _at(i, "identifier"), "the establishment's INPE removed")


def org_no_region(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Organization", rng, lambda r: _region_extension(r) is not None)
    found = _region_extension(res)
    assert found is not None
    a, e = found
    del res["address"][a]["extension"][e]
    if not res["address"][a]["extension"]:
        del res["address"][a]["extension"]
    return Mutated(
        out, _at(i, f"address[{a}].extension"), "the region extension of the establishment removed"
    )


def practitioner_inpe(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Practitioner", rng, _has("inpe"))
    j = _identifier(res, "inpe")
    assert j is not None
    value = res["identifier"][j]["value"]
    res["identifier"][j]["value"] = value + "0"
    return Mutated(out, _at(i, f"identifier[{j}].value"), f"INPE {value} given a tenth digit")


def no_start(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Encounter", rng, lambda r: "start" in (r.get("period") or {}))
    start = res["period"].pop("start")
    res["period"].setdefault("end", start)  # keep a period, so that only its start is missing
    return Mutated(out, _at(i, "period.start"), f"encounter start {start} removed")


def no_icd10(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Condition", rng, lambda r: bool((r.get("code") or {}).get("coding")))
    display = res["code"]["coding"][0].get("display", "")
    res["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": display}
    return Mutated(out, _at(i, "code.coding"), "ICD-10 coding replaced by a SNOMED CT one")


def _category(code: str) -> Callable[[Json], bool]:
    return lambda r: any(
        c.get("code") == code for cat in r.get("category") or [] for c in cat.get("coding") or []
    )


def vital_code(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "Observation", rng, _category("vital-signs"))
    res["code"] = {
        "coding": [
            {"system": _LOINC, "code": "2345-7", "display": "Glucose [Mass/volume] in Serum or Plasma"}
        ]
    }
    return Mutated(
        out, _at(i, "code"), "vital sign coded with a laboratory LOINC code (not in ma-vital-signs)"
    )


def lab_unit(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(
        bundle, "Observation", rng, lambda r: _category("laboratory")(r) and "valueQuantity" in r
    )
    res["valueQuantity"]["system"] = "http://example.org/units"
    return Mutated(out, _at(i, "valueQuantity.system"), "result unit outside UCUM")


def no_gtin(bundle: Json, rng: random.Random) -> Mutated:
    system = _national().code_system_url("medication")
    out, i, res = _take(bundle, "MedicationRequest", rng, lambda r: "medicationCodeableConcept" in r)
    concept = res["medicationCodeableConcept"]
    concept["coding"] = [c for c in concept.get("coding") or [] if c.get("system") != system]
    if not concept["coding"]:
        del concept["coding"]
        concept["text"] = "médicament"
    return Mutated(out, _at(i, "medicationCodeableConcept.coding"), "GTIN coding removed (ATC class only)")


def document_type(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "DocumentReference", rng, lambda r: "type" in r)
    res["type"] = {"coding": [{"system": _national().code_system_url("documentType"), "code": "LETTRE"}]}
    return Mutated(out, _at(i, "type"), "document type LETTRE (not in ma-document-type)")


def content_type(bundle: Json, rng: random.Random) -> Mutated:
    out, i, res = _take(bundle, "DocumentReference", rng, lambda r: bool(r.get("content")))
    res["content"][0]["attachment"]["contentType"] = "application/msword"
    return Mutated(out, _at(i, "content[0].attachment.contentType"), "content type application/msword")
