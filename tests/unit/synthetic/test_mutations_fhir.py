"""Self-consistency of the FHIR negative variants: each fails the validator on the requirement it names."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from testbed.synthetic import mutations
from testbed.synthetic.fhir import FhirRenderer
from tests.unit.synthetic import _records as R
from tests.unit.synthetic.test_fhir_render import DOCS

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.core.issues import ValidationOutcome
    from testbed.synthetic.mutations import Mutated, Mutation

REQUIREMENTS = Path(__file__).resolve().parents[3] / "profiles" / "ma.smr.core" / "requirements.csv"
FHIR = mutations.catalogue("fhir")


@pytest.fixture(scope="module")
def bundles(ma_validator: Validator) -> list[dict[str, Any]]:
    renderer = FhirRenderer.from_registry(ma_validator.context.registry)
    return [renderer.bundle(r, DOCS if r.documents else None) for r in R.all_records()]


def breaks(mutation: Mutation, mutated: Mutated, outcome: ValidationOutcome) -> list[str]:
    """Why the outcome does not prove the mutation (empty when it does)."""
    entry = re.match(r"Bundle\.entry\[\d+\]", mutated.location)
    assert entry is not None, mutated.location
    errors = [i for i in outcome.issues if i.severity.value in ("error", "fatal")]
    cited = [
        i
        for i in errors
        if set(mutation.requirements) <= set(i.requirements)
        and (mutation.rule is None or i.rule == mutation.rule)
        and i.location.startswith(entry.group(0) + ".")
    ]
    if cited:
        return []
    seen = [f"{i.location} {i.rule} {i.requirements}" for i in errors]
    return [f"{mutation.id} at {mutated.location}: no error cites {mutation.requirements}; got {seen}"]


def test_catalogue_is_large_and_names_known_requirements() -> None:
    with REQUIREMENTS.open(encoding="utf-8") as handle:
        known = {row["id"] for row in csv.DictReader(handle)}
    assert len(FHIR) >= 12
    assert len({m.id for m in FHIR}) == len(FHIR)
    for mutation in FHIR:
        assert mutation.id.startswith("fhir.") and mutation.standard == "fhir"
        assert mutation.requirements and set(mutation.requirements) <= known, mutation.id


@pytest.mark.parametrize("mutation", FHIR, ids=lambda m: m.id)
def test_each_mutation_fails_on_its_requirement(
    mutation: Mutation, bundles: list[dict[str, Any]], ma_validator: Validator
) -> None:
    applied = 0
    for bundle in bundles:
        before = json.dumps(bundle)
        try:
            mutated = mutation.apply(bundle, random.Random(5))
        except mutations.NotApplicable:
            continue
        applied += 1
        assert json.dumps(bundle) == before, "the input Bundle was modified"
        assert mutated.location.startswith("Bundle.entry[") and mutated.detail
        assert breaks(mutation, mutated, ma_validator.validate(mutated.artefact)) == []
    assert applied, f"{mutation.id} applies to none of the hand-built records"


def test_not_applicable_without_a_target(bundles: list[dict[str, Any]]) -> None:
    duplicate = bundles[3]  # a lone Patient with a local identifier only
    for mid in ("fhir.ins-key", "fhir.condition-no-icd10", "fhir.consent-no-patient", "fhir.document-type"):
        with pytest.raises(mutations.NotApplicable):
            mutations.get(mid).apply(duplicate, random.Random(1))
    with pytest.raises(mutations.NotApplicable):
        mutations.choose(
            "fhir", {"resourceType": "Bundle", "type": "transaction", "entry": []}, random.Random(1)
        )


def test_choose_is_reproducible(bundles: list[dict[str, Any]]) -> None:
    picks = [mutations.choose("fhir", bundles[0], random.Random(seed)) for seed in range(6)]
    again = [mutations.choose("fhir", bundles[0], random.Random(seed)) for seed in range(6)]
    assert [(m.id, r.location) for m, r in picks] == [(m.id, r.location) for m, r in again]
    assert len({m.id for m, _ in picks}) > 1


def test_self_consistency_on_generated_population(ma_validator: Validator) -> None:
    """300 generated patients, as in a run with ``--invalid 0.5``: each Bundle is checked clean or mutated.

    A clean Bundle has no error; a mutated one has an error citing the mutation's requirement and rule in
    the entry it broke.
    """
    from testbed.synthetic.journey import iter_population

    renderer = FhirRenderer.from_registry(ma_validator.context.registry)
    problems: list[str] = []
    used: set[str] = set()
    for n, record in enumerate(iter_population("self-consistency", 300)):
        bundle = renderer.bundle(record)
        if n % 2 == 0:
            clean = ma_validator.validate(bundle)
            problems += [f"{record.id} clean: {i.location} {i.message}" for i in clean.errors()]
            continue
        mutation, mutated = mutations.choose("fhir", bundle, random.Random(f"self-consistency|{record.id}"))
        used.add(mutation.id)
        problems += breaks(mutation, mutated, ma_validator.validate(mutated.artefact))
    assert problems == []
    assert len(used) >= len(FHIR) // 2, f"only {sorted(used)} were drawn"
