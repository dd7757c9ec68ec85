"""Moroccan synthetic population: the model of ``synthetic/`` and a seeded Faker provider on it.

Typical use::

    from testbed.synthetic import make_faker

    fake = make_faker(seed=42)
    fake.ins(), fake.cnie(region="06"), fake.ma_first_name("female"), fake.ma_address()

The same seed gives the same values on every run and machine. The tables and their sources are listed in
``synthetic/README.md``; :class:`PopulationModel` gives later generators access to all of them.
"""

from __future__ import annotations

from testbed.synthetic._tables import SyntheticDataError
from testbed.synthetic.journey import (
    JourneyOptions,
    generate_patient,
    generate_records,
    iter_population,
    patient_id,
)
from testbed.synthetic.model import (
    DATA_DIR_ENV,
    DEFAULT_REFERENCE_DATE,
    SEXES,
    AgeBand,
    City,
    ConditionPrevalence,
    Establishment,
    Name,
    PopulationModel,
    Practitioner,
    Province,
    Region,
    Specialty,
    Vaccination,
)
from testbed.synthetic.provider import Address, MoroccoProvider, make_faker, national_phone
from testbed.synthetic.record import PatientRecord

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_REFERENCE_DATE",
    "SEXES",
    "Address",
    "AgeBand",
    "City",
    "ConditionPrevalence",
    "Establishment",
    "JourneyOptions",
    "MoroccoProvider",
    "Name",
    "PatientRecord",
    "PopulationModel",
    "Practitioner",
    "Province",
    "Region",
    "Specialty",
    "SyntheticDataError",
    "Vaccination",
    "generate_patient",
    "generate_records",
    "iter_population",
    "make_faker",
    "national_phone",
    "patient_id",
]
