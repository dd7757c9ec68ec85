"""The requirement catalogue: the shipped MA-SMR catalogue and the loader's checks."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from testbed.core.errors import TestbedError
from testbed.requirements import (
    COLUMNS,
    Requirement,
    RequirementCatalogue,
    RequirementError,
    Strength,
    Vocabulary,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "profiles" / "ma.smr.core" / "requirements.csv"

# The framework's vocabulary (spec §10 areas, §5 actors, §9 levels); the engine itself holds none of it.
AREAS = ("ID", "PAT", "DOC", "CDA", "V2", "TERM", "CONS", "AUD", "SEC", "API", "XSTD")
MA = Vocabulary(
    prefix="MA",
    areas=frozenset(AREAS),
    actors=frozenset({"SMR", "Source", "Consumer", "IdentitySource"}),
    levels=frozenset({1, 2, 3}),
)
HEADER = ",".join(COLUMNS)
GOOD_ROW = "MA-ID-001,ID,An INS value is 10 digits plus a key.,SHALL,2,SMR;Source,§2"


@pytest.fixture(scope="module")
def shipped() -> RequirementCatalogue:
    return RequirementCatalogue.load(SHIPPED, vocabulary=MA)


def write(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "requirements.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def load_error(path: Path, vocabulary: Vocabulary | None = MA) -> RequirementError:
    with pytest.raises(RequirementError) as info:
        RequirementCatalogue.load(path, vocabulary=vocabulary)
    assert isinstance(info.value, TestbedError)
    return info.value


# --- the shipped catalogue ---------------------------------------------------------------------------


def test_shipped_catalogue_loads(shipped: RequirementCatalogue) -> None:
    assert 120 <= len(shipped) <= 300
    assert shipped.prefix == "MA"
    req = shipped.get("MA-ID-001")
    assert isinstance(req, Requirement)
    assert req.area == "ID" and req.level == 2 and req.strength is Strength.SHALL
    assert "MA-ID-001" in shipped and "MA-ID-999" not in shipped
    assert [r.id for r in shipped][0] == "MA-ID-001"


def test_shipped_catalogue_also_loads_without_a_vocabulary() -> None:
    assert len(RequirementCatalogue.load(SHIPPED)) == len(RequirementCatalogue.load(SHIPPED, vocabulary=MA))


def test_every_area_has_requirements_numbered_from_001_in_order(shipped: RequirementCatalogue) -> None:
    groups = shipped.by_area()
    assert list(groups) == list(AREAS)
    for area, reqs in groups.items():
        assert [r.id for r in reqs] == [f"MA-{area}-{n:03d}" for n in range(1, len(reqs) + 1)]


def test_counts_per_level(shipped: RequirementCatalogue) -> None:
    levels = Counter(r.level for r in shipped)
    assert set(levels) == {1, 2, 3}
    assert all(n >= 10 for n in levels.values()), levels
    assert sum(levels.values()) == len(shipped)


def test_levels_follow_spec_section_9(shipped: RequirementCatalogue) -> None:
    # Level 3 = SMR-T8 to T10 and section 8; these never sit lower.
    for req in shipped:
        if req.section == "§8" or re.match(r"§5 SMR-T(8|9|10)$", req.section):
            assert req.level == 3, req
        if req.level == 3:
            assert req.area in {"SEC", "CONS", "AUD"}, req


def test_may_only_where_the_spec_permits(shipped: RequirementCatalogue) -> None:
    for req in shipped:
        if req.strength is Strength.MAY:
            assert re.search(r"\b(may|optional|allowed)\b", req.text), req


def test_every_area_of_every_section_is_covered(shipped: RequirementCatalogue) -> None:
    sections = {r.section.split()[0] for r in shipped}
    assert {"§2", "§3", "§4", "§5", "§6", "§7", "§8", "§9"} <= sections
    t_codes = {m for r in shipped for m in re.findall(r"SMR-T\d+", r.section)}
    assert t_codes == {f"SMR-T{n}" for n in range(1, 12)}


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        ("INS key mod 97", r"INS key is 97 - \(the 10-digit number mod 97\)"),
        ("CNIE pattern", re.escape("^[A-Z]{1,2}[0-9]{5,6}$")),
        ("INPE 9 digits", r"INPE value is 9 digits"),
        ("one INS per patient", r"patient carries at most one INS"),
        ("merge keeps INS", r"merge must keep the surviving INS"),
        ("unknown identifier system", r"system is neither one of the national systems"),
        ("residence permit pattern", re.escape("^[A-Z]{1,2}[0-9]{5,8}[A-Z]?$")),
        ("replaced-by link", r"link of type replaced-by"),
    ],
)
def test_section_2_identifier_rules_are_in_the_catalogue(
    shipped: RequirementCatalogue, what: str, pattern: str
) -> None:
    hits = [r for r in shipped if r.area == "ID" and r.section == "§2" and re.search(pattern, r.text)]
    assert hits, f"no §2 identifier requirement states: {what}"


def test_shipped_file_is_plain_utf8_without_bom() -> None:
    data = SHIPPED.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8").splitlines()[0] == HEADER


# --- lookups -----------------------------------------------------------------------------------------


def test_ids_in_text_finds_tokens_known_or_not(shipped: RequirementCatalogue) -> None:
    text = "MA-ID-003 (also MA-V2-003, MA-FOO-123); not XMA-ID-002, MA-ID-0012 or MA-id-001; MA-ID-003 again"
    assert shipped.ids_in_text(text) == ["MA-ID-003", "MA-V2-003", "MA-FOO-123"]
    assert shipped.ids_in_text("no ids here") == []


def test_check_ids_names_where_and_the_unknown_ones(shipped: RequirementCatalogue) -> None:
    assert shipped.check_ids(["MA-ID-001", "MA-PAT-001"], "scenarios/a.scenario.yaml:4") == []
    problems = shipped.check_ids(["MA-ID-001", "MA-ID-999", "MA-FOO-001", "MA-ID-999"], "a.yaml:4")
    assert len(problems) == 2
    assert problems[0].startswith("a.yaml:4: unknown requirement ID 'MA-ID-999'")
    assert "'MA-FOO-001'" in problems[1]
    assert shipped.unknown(["MA-ID-001", "MA-ID-999"]) == ["MA-ID-999"]


def test_catalogue_without_rows_finds_any_prefix() -> None:
    empty = RequirementCatalogue([])
    assert len(empty) == 0 and empty.by_area() == {}
    assert empty.ids_in_text("XX-AB-001 and YY-C2-002") == ["XX-AB-001", "YY-C2-002"]


def test_constructor_refuses_duplicates() -> None:
    req = Requirement("XX-A-001", "A", "t", Strength.SHALL, 1, ("S",), "§1")
    with pytest.raises(RequirementError, match="duplicate requirement id 'XX-A-001'"):
        RequirementCatalogue([req, req])


# --- loading: good and bad files ---------------------------------------------------------------------


def test_a_good_small_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD_ROW,
        'MA-ID-002,ID,"Multi-line, quoted ""text""\nstill one statement.",MAY,2,"SMR; Source",§2',
        "",
        "MA-XSTD-001,XSTD,Same patient everywhere.,SHOULD,2,IdentitySource,§9",
    )
    cat = RequirementCatalogue.load(path, vocabulary=MA)
    assert [r.id for r in cat] == ["MA-ID-001", "MA-ID-002", "MA-XSTD-001"]
    second = cat.get("MA-ID-002")
    assert second is not None
    assert second.text == 'Multi-line, quoted "text"\nstill one statement.'
    assert second.actors == ("SMR", "Source") and second.strength == "MAY"
    assert {a: len(v) for a, v in cat.by_area().items()} == {"ID": 2, "XSTD": 1}


def test_columns_may_come_in_any_order(tmp_path: Path) -> None:
    header = "section,id,area,text,strength,level,actors"
    path = write(tmp_path, "§2,MA-ID-001,ID,Text.,SHALL,1,SMR", header=header)
    req = RequirementCatalogue.load(path, vocabulary=MA).get("MA-ID-001")
    assert req is not None and req.section == "§2" and req.level == 1


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "MA-ID-001,ID,Text.,SHALL,2,SMR", header="id,area,text,strength,level,actors")
    err = load_error(path)
    assert "requirements.csv:1:7: missing column(s) section" in str(err)


def test_extra_and_duplicate_columns(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, GOOD_ROW + ",x", header=HEADER + ",url"))
    assert "requirements.csv:1:8: unknown column 'url'" in str(err)
    err = load_error(write(tmp_path, GOOD_ROW + ",x", header=HEADER + ",id"))
    assert "requirements.csv:1:8: duplicate column 'id'" in str(err)


def test_row_with_wrong_number_of_fields(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, GOOD_ROW, "MA-ID-002,ID,Text.,SHALL,2,SMR"))
    assert "requirements.csv:3:7: 6 fields, expected 7" in str(err)
    err = load_error(write(tmp_path, GOOD_ROW + ",extra"))
    assert "requirements.csv:2:8: 8 fields, expected 7" in str(err)


@pytest.mark.parametrize(
    "bad_id", ["MA-ID-1", "MA-ID-0001", "ma-ID-001", "MA_ID_001", "MA-ID-000", " MA-ID-001"]
)
def test_bad_id_format(tmp_path: Path, bad_id: str) -> None:
    err = load_error(write(tmp_path, GOOD_ROW.replace("MA-ID-001", bad_id, 1)))
    assert f"requirements.csv:2:1: bad id {bad_id!r}" in str(err)


def test_id_prefix_must_be_the_catalogue_s(tmp_path: Path) -> None:
    row = GOOD_ROW.replace("MA-ID-001", "XX-ID-002", 1)
    err = load_error(write(tmp_path, GOOD_ROW, row), vocabulary=None)
    assert "requirements.csv:3:1: id 'XX-ID-002' does not start with the prefix 'MA'" in str(err)
    err = load_error(write(tmp_path, row))
    assert "requirements.csv:2:1: id 'XX-ID-002' does not start with the prefix 'MA'" in str(err)


def test_unknown_area(tmp_path: Path) -> None:
    path = write(tmp_path, "MA-LAB-001,LAB,Text.,SHALL,2,SMR,§4")
    err = load_error(path)
    assert "requirements.csv:2:2: unknown area 'LAB'" in str(err)
    # without a vocabulary, any well-formed area is accepted
    assert "MA-LAB-001" in RequirementCatalogue.load(path)


def test_area_must_match_id(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, GOOD_ROW.replace(",ID,", ",PAT,", 1)))
    assert "requirements.csv:2:2: area 'PAT' does not match the id 'MA-ID-001'" in str(err)
    err = load_error(write(tmp_path, GOOD_ROW.replace(",ID,", ",id,", 1)))
    assert "requirements.csv:2:2: bad area 'id'" in str(err)


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, GOOD_ROW, GOOD_ROW.replace("SHALL", "SHOULD")))
    assert "requirements.csv:3:1: duplicate id 'MA-ID-001' (first on line 2)" in str(err)


@pytest.mark.parametrize("strength", ["MUST", "shall", "", "SHALL NOT"])
def test_bad_strength(tmp_path: Path, strength: str) -> None:
    err = load_error(write(tmp_path, GOOD_ROW.replace("SHALL", strength, 1)))
    assert f"requirements.csv:2:4: bad strength {strength!r}" in str(err)


@pytest.mark.parametrize("level", ["4", "0", "two", "", "1.5", "-1"])
def test_bad_level(tmp_path: Path, level: str) -> None:
    err = load_error(write(tmp_path, GOOD_ROW.replace(",2,", f",{level},", 1)))
    assert f"requirements.csv:2:5: bad level {level!r}" in str(err)


def test_level_outside_vocabulary_is_fine_without_one(tmp_path: Path) -> None:
    cat = RequirementCatalogue.load(write(tmp_path, GOOD_ROW.replace(",2,", ",4,", 1)))
    assert [r.level for r in cat] == [4]


@pytest.mark.parametrize(
    ("actors", "message"),
    [
        ("SMR;Vendor", "unknown actor 'Vendor'"),
        ("SMR,Source", None),  # a comma makes an extra field
        ("", "no actor"),
        ("SMR;;Source", "bad actor ''"),
        ("SMR;SMR", "repeated actor"),
        ("Identity Source", "bad actor 'Identity Source'"),
    ],
)
def test_bad_actors(tmp_path: Path, actors: str, message: str | None) -> None:
    err = load_error(write(tmp_path, GOOD_ROW.replace("SMR;Source", actors, 1)))
    if message is None:
        assert "requirements.csv:2:8: 8 fields, expected 7" in str(err)
    else:
        assert f"requirements.csv:2:6: {message}" in str(err)


@pytest.mark.parametrize("text", ["", "   ", '"  "'])
def test_empty_text(tmp_path: Path, text: str) -> None:
    err = load_error(write(tmp_path, f"MA-ID-001,ID,{text},SHALL,2,SMR,§2"))
    assert "requirements.csv:2:3: empty text" in str(err)


def test_empty_section(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, "MA-ID-001,ID,Text.,SHALL,2,SMR,"))
    assert "requirements.csv:2:7: empty section" in str(err)


def test_every_defect_is_listed_at_once(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, "MA-ID-001,PAT,,MUST,9,Nobody,§2", "MA-ID-2,ID,Text.,SHALL,1,SMR,§2"))
    lines = str(err).splitlines()
    assert [p.column for p in err.problems] == [2, 3, 4, 5, 6, 1]
    assert len(lines) == 6 and all(line.startswith(f"{tmp_path / 'requirements.csv'}:") for line in lines)


def test_line_numbers_count_multiline_fields(tmp_path: Path) -> None:
    multiline = 'MA-ID-001,ID,"one\ntwo\nthree",SHALL,2,SMR,§2'
    err = load_error(write(tmp_path, multiline, "MA-ID-002,ID,T.,BAD,2,SMR,§2"))
    assert "requirements.csv:5:4: bad strength 'BAD'" in str(err)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "requirements.csv"
    row = GOOD_ROW.replace("An INS", "Un \xe9l\xe9ment")
    path.write_bytes((HEADER + "\n" + row + "\n").encode("latin-1"))
    err = load_error(path)
    assert "requirements.csv:2:17: not UTF-8 (byte 0xe9" in str(err)


def test_a_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "requirements.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n" + GOOD_ROW + "\n").encode())
    assert "MA-ID-001" in RequirementCatalogue.load(path, vocabulary=MA)


def test_malformed_csv_quoting(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, 'MA-ID-001,ID,"Text" here,SHALL,2,SMR,§2'))
    assert "requirements.csv:2: malformed CSV" in str(err)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "requirements.csv"
    path.write_text("", encoding="utf-8")
    assert "requirements.csv:1: empty file" in str(load_error(path))
    assert "cannot read the requirement catalogue" in str(load_error(tmp_path / "nope.csv"))


def test_header_only_is_an_empty_catalogue(tmp_path: Path) -> None:
    assert len(RequirementCatalogue.load(write(tmp_path), vocabulary=MA)) == 0


# --- vocabulary from a settings table ----------------------------------------------------------------


def test_vocabulary_from_mapping() -> None:
    vocab = Vocabulary.from_mapping({"prefix": "MA", "areas": list(AREAS), "levels": [1, 2, 3]})
    assert vocab.areas == frozenset(AREAS) and vocab.levels == frozenset({1, 2, 3}) and vocab.actors is None
    with pytest.raises(RequirementError, match="unknown vocabulary keys"):
        Vocabulary.from_mapping({"area": ["ID"]})
    with pytest.raises(RequirementError, match="expected a list of int"):
        Vocabulary.from_mapping({"levels": ["1"]})
    with pytest.raises(RequirementError, match="expected a list of str"):
        Vocabulary.from_mapping({"areas": "ID"})
    with pytest.raises(RequirementError, match="prefix must be a string"):
        Vocabulary.from_mapping({"prefix": 1})
