"""The MA message profiles as content: they load, cite known requirements, follow the v2.5 structures,
and a mistake in them stops loading with a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from testbed.core.errors import PackageError
from testbed.hl7v2 import Hl7v2Validator
from testbed.hl7v2.profile import Node, find_profile_folder, profile_requirements
from testbed.national import NationalContent
from testbed.requirements import RequirementCatalogue

from .conftest import ROOT

FOLDER = ROOT / "profiles" / "ma.smr.v2"
CATALOGUE = RequirementCatalogue.load(ROOT / "profiles" / "ma.smr.core" / "requirements.csv")


def test_the_profiles_of_spec_section_7_are_there(v2: Hl7v2Validator) -> None:
    assert set(v2.profiles.messages) == {
        "ADT^A01",
        "ADT^A03",
        "ADT^A04",
        "ADT^A08",
        "ADT^A28",
        "ADT^A31",
        "ADT^A40",
        "ORU^R01",
        "ACK",
    }
    assert v2.profiles.settings["version"] == "2.5"
    assert find_profile_folder() == FOLDER


def test_every_v2_requirement_is_cited_and_every_citation_exists(v2: Hl7v2Validator) -> None:
    cited = v2.profiles.cited()
    assert not CATALOGUE.unknown(cited)
    v2_ids = {r.id for r in CATALOGUE if r.area == "V2"}
    assert v2_ids - cited == set()
    assert {"MA-ID-010", "MA-ID-023", "MA-ID-025", "MA-ID-026", "MA-ID-029"} <= cited


def _flatten(nodes: list[Node]) -> list[str]:
    out: list[str] = []
    for n in nodes:
        out += [f"[{n.name}", *_flatten(n.children), "]"] if n.children is not None else [n.name]
    return out


def _hl7apy(structure: str) -> list[str]:
    from hl7apy.v2_5 import groups, messages

    def walk(children: tuple) -> list[str]:  # type: ignore[type-arg]
        out: list[str] = []
        for name, _definition, _card, kind in children:
            if kind == "GRP":
                out += [f"[{name.removeprefix(structure + '_')}", *walk(groups.GROUPS[name][1]), "]"]
            else:
                out.append(name)
        return out

    return walk(messages.MESSAGES[structure][1])


def test_structures_follow_hl7_v25(v2: Hl7v2Validator) -> None:
    for key, profile in v2.profiles.messages.items():
        assert _flatten(profile.nodes) == _hl7apy(profile.structure), key


def test_the_v2_base_types_come_from_hl7apy(v2: Hl7v2Validator) -> None:
    pid = v2.profiles.segments["PID"]
    assert (pid.fields[3].type, pid.fields[5].type, pid.fields[7].type, pid.fields[11].type) == (
        "CX",
        "XPN",
        "TS",
        "XAD",
    )
    assert pid.fields[11].components[4].table is not None and pid.fields[11].components[4].table.value_set
    assert profile_requirements()["framing"] == ("MA-V2-022",)


def _broken(
    tmp_path: Path, file: str, change: dict[str, object] | None = None, text: str | None = None
) -> Path:
    folder = tmp_path / "v2"
    shutil.copytree(FOLDER, folder)
    path = folder / file
    if text is not None:
        path.write_text(text, encoding="utf-8")
    else:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data.update(change or {})
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    # the copied folder lies outside profiles/: name the requirement catalogue absolutely
    top = folder / "v2-profile.yaml"
    data = yaml.safe_load(top.read_text(encoding="utf-8"))
    data["requirementsFile"] = str(ROOT / "profiles" / "ma.smr.core" / "requirements.csv")
    top.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("segments.yaml", {"PID": {8: {"check": "no-such-check"}}}, "unknown check 'no-such-check'"),
        ("segments.yaml", {"PID": {8: {"table": "MA-NOPE"}}}, "table 'MA-NOPE'"),
        ("segments.yaml", {"PID": {8: {"table": "HL79999"}}}, "HL7 v2.5 has no table"),
        ("segments.yaml", {"PID": {8: {"usage": "Q"}}}, "usage 'Q'"),
        ("segments.yaml", {"PID": {8: {"card": "1-2"}}}, "card '1-2'"),
        ("segments.yaml", {"PID": {8: {"requirements": ["MA-V2-999"]}}}, "unknown requirement IDs"),
        ("segments.yaml", {"PID": {8: {"colour": "red"}}}, "unknown keys"),
        ("messages/ADT_A04.yaml", {"segments": None, "message": "ADT^A04"}, "non-empty list"),
        ("messages/ADT_A04.yaml", {"fields": {"PV1.3": {"usage": "R"}}}, "is not SEG-n"),
        ("messages/ADT_A04.yaml", {"message": "ADT^A01"}, "already defined"),
        ("v2-profile.yaml", {"tables": {"MA-X": {"valueSet": {"role": "nope"}}}}, "no code system declared"),
        ("v2-profile.yaml", {"requirements": {}}, "requirements.structure"),
    ],
)
def test_content_mistakes_stop_loading(
    tmp_path: Path, v2_national: NationalContent, file: str, change: dict[str, object], message: str
) -> None:
    folder = _broken(tmp_path, file, change)
    with pytest.raises(PackageError, match=message):
        Hl7v2Validator(national=v2_national, identifiers=None, profiles_dir=folder)  # type: ignore[arg-type]


def test_unreadable_content(tmp_path: Path, v2_national: NationalContent) -> None:
    folder = _broken(tmp_path, "segments.yaml", text="PID: [unclosed")
    with pytest.raises(PackageError, match="cannot read"):
        Hl7v2Validator(national=v2_national, identifiers=None, profiles_dir=folder)  # type: ignore[arg-type]
    with pytest.raises(PackageError, match="not an HL7 v2 profile folder"):
        find_profile_folder(tmp_path)
