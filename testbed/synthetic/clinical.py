"""The clinical model: tables the journeys draw from, loaded once and checked against the population model.

The tables are ``clinical.yaml``, ``medications.yaml``, ``allergies.csv`` and ``identity.yaml``, in the folder
of the population tables.
"""

from __future__ import annotations

import threading
import weakref
from datetime import date
from pathlib import Path

from testbed.synthetic._journey_read import (
    Obj,
    read_growth,
    read_labs,
    read_profiles,
    read_settings,
    read_vitals,
)
from testbed.synthetic._journey_read_tables import read_allergens, read_identity, read_medications
from testbed.synthetic._journey_types import (
    Admission,
    Allergen,
    CareProfile,
    Growth,
    IdentityRules,
    LabTest,
    Medication,
    Nationality,
    Route,
    Settings,
    VitalSign,
)
from testbed.synthetic._tables import SyntheticDataError, read_yaml
from testbed.synthetic.model import PopulationModel

CLINICAL_TABLES = ("clinical.yaml", "medications.yaml", "allergies.csv", "identity.yaml")
"""The tables this model reads, in the folder of the population tables."""

_CACHE: weakref.WeakKeyDictionary[PopulationModel, ClinicalModel] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class ClinicalModel:
    """Clinical tables of the synthetic journeys, checked against a :class:`PopulationModel`.

    Use :meth:`for_population`; everything is read-only once loaded.
    """

    def __init__(self, population: PopulationModel) -> None:
        data_dir = population.data_dir
        self.population = population
        clinical = Obj(read_yaml(data_dir / "clinical.yaml"), str(data_dir / "clinical.yaml"))
        specialties = set(population.specialties)
        self.settings: Settings = read_settings(clinical, specialties)
        self.vitals: dict[str, VitalSign]
        self.measured: dict[str, dict[str, float]]
        self.vitals, self.measured = read_vitals(clinical)
        self.growth: Growth = read_growth(clinical)
        self.labs: dict[str, LabTest] = read_labs(clinical)
        meds_path = data_dir / "medications.yaml"
        self.medications: dict[str, Medication] = read_medications(
            Obj(read_yaml(meds_path), str(meds_path)).obj("medications")
        )
        self.conditions: dict[str, CareProfile] = read_profiles(
            clinical.obj("conditions"),
            episode=False,
            labs=self.labs,
            vitals=self.vitals,
            medications=self.medications,
            specialties=specialties,
        )
        episodes = read_profiles(
            clinical.obj("episodes"),
            episode=True,
            labs=self.labs,
            vitals=self.vitals,
            medications=self.medications,
            specialties=specialties,
        )
        self.episodes: tuple[CareProfile, ...] = tuple(episodes.values())
        introduced = clinical.obj("vaccine_introduced")
        self.vaccine_introduced: dict[str, date] = {name: introduced.day(name) for name in introduced.data}
        self.allergens: tuple[Allergen, ...] = read_allergens(data_dir / "allergies.csv")
        identity_path = data_dir / "identity.yaml"
        self.identity: IdentityRules = read_identity(
            Obj(read_yaml(identity_path), str(identity_path)), set(population.activities)
        )
        self._check(data_dir)

    @classmethod
    def for_population(cls, population: PopulationModel | None = None) -> ClinicalModel:
        """The clinical model of ``population`` (default: :meth:`PopulationModel.load`), cached per model."""
        model = population if population is not None else PopulationModel.load()
        with _LOCK:
            cached = _CACHE.get(model)
            if cached is None:
                cached = cls(model)
                _CACHE[model] = cached
        return cached

    def profile(self, code: str) -> CareProfile:
        """The care profile of a long-standing condition of ``conditions.csv``."""
        return self.conditions[code]

    def _check(self, data_dir: Path) -> None:
        where = data_dir / "clinical.yaml"
        population = self.population
        missing = sorted({c.code for c in population.conditions} - set(self.conditions))
        if missing:
            raise SyntheticDataError(
                f"{where}: conditions.csv codes without a care profile: {', '.join(missing)}."
            )
        clash = sorted(set(self.conditions) & {e.code for e in self.episodes})
        if clash:
            raise SyntheticDataError(f"{where}: {', '.join(clash)} are both a condition and an episode.")
        unknown_labs = sorted(set(self.settings.admission_labs) - set(self.labs))
        if unknown_labs:
            raise SyntheticDataError(f"{where}: admission_labs not in labs: {', '.join(unknown_labs)}.")
        vaccines = {v.vaccine for v in population.vaccinations}
        unknown_vaccines = sorted(set(self.vaccine_introduced) - vaccines)
        if unknown_vaccines:
            raise SyntheticDataError(
                f"{where}: vaccine_introduced names {', '.join(unknown_vaccines)}, unknown to the PNI table."
            )
        settings = self.settings
        for specialty in (*settings.vaccination_specialties, *settings.summary_specialties):
            if specialty not in population.specialties:
                raise SyntheticDataError(f"{where}: unknown specialty {specialty!r} in settings.")
        for row in population.conditions:
            profile = self.conditions[row.code]
            for sex in ("male", "female") if row.sex == "any" else (row.sex,):
                for low, high, chance in row.bands:
                    uncared = [
                        a for a in range(low, high + 1) if chance > 0 and not profile.cared_for(a, sex)
                    ]
                    if uncared:
                        raise SyntheticDataError(
                            f"{where}: {row.code} has no route for a {sex} aged {uncared[0]}, "
                            "though conditions.csv gives it a prevalence there."
                        )
        if self.growth.obesity_code not in self.conditions:
            raise SyntheticDataError(
                f"{where}: growth.obesity_code {self.growth.obesity_code} is not a condition."
            )


__all__ = [
    "CLINICAL_TABLES",
    "Admission",
    "Allergen",
    "CareProfile",
    "ClinicalModel",
    "Growth",
    "IdentityRules",
    "LabTest",
    "Medication",
    "Nationality",
    "Route",
    "Settings",
    "VitalSign",
]
