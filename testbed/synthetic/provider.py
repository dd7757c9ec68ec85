"""The Faker provider of Moroccan synthetic people: identifiers, names, addresses, phones, ages, coverage."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any, NamedTuple

from faker import Faker
from faker.providers import BaseProvider

from testbed.core.errors import UsageError
from testbed.synthetic import ids
from testbed.synthetic.model import DEFAULT_REFERENCE_DATE, SEXES, Name, PopulationModel, Region

PHONE_KINDS = ("mobile", "fixed")


class Address(NamedTuple):
    """A Moroccan postal address, with the region code of ``ma-region`` and the prefecture/province."""

    line: str
    city: str
    postal_code: str
    region_code: str
    province: str
    urban: bool


def _sex(value: str) -> str:
    normalised = {"m": "male", "f": "female", "male": "male", "female": "female"}.get(value.strip().lower())
    if normalised is None:
        raise UsageError(f"Unknown sex {value!r}: expected 'male' or 'female' (or 'M'/'F').")
    return normalised


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year - years, day=28)


def national_phone(e164: str) -> str:
    """The national written form of an E.164 Moroccan number: ``+212612345678`` → ``06 12 34 56 78``."""
    if not (e164.startswith("+212") and len(e164) == 13 and e164[1:].isdigit()):
        raise UsageError(f"{e164!r} is not a Moroccan E.164 number (+212 and 9 digits).")
    digits = "0" + e164[4:]
    return " ".join(digits[i : i + 2] for i in range(0, 10, 2))


class MoroccoProvider(BaseProvider):
    """Faker provider drawing Moroccan people from the :class:`PopulationModel`.

    Every draw uses only the random state of the Faker instance (``self.generator.random``): seed it with
    ``Faker.seed_instance`` (or build it with :func:`make_faker`) and the output is the same, byte for
    byte, on every run and machine. An unseeded Faker shares Faker's global random state and is not
    reproducible.
    """

    def __init__(self, generator: Any, model: PopulationModel | None = None) -> None:
        super().__init__(generator)
        self.population = model if model is not None else PopulationModel.load()

    @property
    def _rng(self) -> random.Random:
        rng: random.Random = self.generator.random
        return rng

    def _region(self, region: str | None) -> Region:
        if region is None:
            return self.population.region_choice.draw(self._rng)
        return self.population.region(region)

    # --- identifiers ---------------------------------------------------------------------------

    def ins(self) -> str:
        """An INS (Identifiant National de Santé): 10 digits and a valid mod97-2 key."""
        return ids.make_ins(self._rng)

    def cnie(self, region: str | None = None) -> str:
        """A CNIE number with a letter prefix of ``region`` (drawn by population if omitted)."""
        return ids.make_cnie(self._rng, self._region(region).cnie_prefixes)

    def carte_sejour(self) -> str:
        """A residence-permit (carte de séjour) number."""
        return ids.make_carte_sejour(self._rng)

    def cnss(self) -> str:
        """A CNSS registration number (9 digits)."""
        return ids.make_cnss(self._rng)

    def cnops(self) -> str:
        """A CNOPS affiliation number (8-10 digits)."""
        return ids.make_cnops(self._rng)

    def inpe(self, kind: str = "practitioner") -> str:
        """A 9-digit INPE for a practitioner or an establishment (``kind``)."""
        return ids.make_inpe(self._rng, kind)

    # --- people ----------------------------------------------------------------------------------

    def ma_sex(self) -> str:
        """``male`` or ``female``, with the sex ratio of the age pyramid."""
        return self.population.sex_choice.draw(self._rng)

    def ma_first_name(self, sex: str) -> Name:
        """A first name for ``sex`` as a ``(latin, arabic)`` pair."""
        return self.population.first_name_choice[_sex(sex)].draw(self._rng)

    def ma_family_name(self) -> Name:
        """A family name as a ``(latin, arabic)`` pair."""
        return self.population.family_name_choice.draw(self._rng)

    def ma_age(self, sex: str | None = None, min_age: int = 0, max_age: int | None = None) -> int:
        """An age in whole years drawn from the age pyramid (of ``sex`` if given), within the bounds."""
        top = self.population.age_bands[-1].age_max if max_age is None else max_age
        if min_age < 0 or top < min_age:
            raise UsageError(f"Invalid age bounds: min_age={min_age}, max_age={max_age}.")
        lo, hi = self.population.age_choice(None if sex is None else _sex(sex), min_age, top).draw(self._rng)
        return lo + self._rng.randrange(hi - lo + 1)

    def ma_birth_date(
        self,
        sex: str | None = None,
        min_age: int = 0,
        max_age: int | None = None,
        reference_date: date = DEFAULT_REFERENCE_DATE,
    ) -> date:
        """A birth date such that the age at ``reference_date`` follows the age pyramid within the bounds."""
        age = self.ma_age(sex, min_age, max_age)
        latest = _years_before(reference_date, age)
        earliest = _years_before(reference_date, age + 1) + timedelta(days=1)
        return earliest + timedelta(days=self._rng.randrange((latest - earliest).days + 1))

    # --- places and phones -----------------------------------------------------------------------

    def ma_region(self) -> str:
        """A region code of ``ma-region``, weighted by the 2024 population."""
        return self.population.region_choice.draw(self._rng).code

    def ma_address(self, region: str | None = None, urban: bool | None = None) -> Address:
        """An address in ``region`` (drawn by population if omitted); urban per the region's share."""
        rng = self._rng
        chosen = self._region(region)
        is_urban = rng.random() < chosen.urban_share if urban is None else urban
        province = chosen.province_choice.draw(rng)
        city = province.city_choice.draw(rng)
        postal_code = city.postal_codes[rng.randrange(len(city.postal_codes))]
        streets = self.population.streets
        if is_urban:
            number = 1 + rng.randrange(180)
            kind = streets.street_types.draw(rng)
            street = streets.street_names[rng.randrange(len(streets.street_names))]
            quarter = streets.quarters[rng.randrange(len(streets.quarters))]
            line = f"{number} {kind} {street}, {quarter}"
        else:
            postal_code = city.postal_codes[0]
            line = f"Douar {streets.douars[rng.randrange(len(streets.douars))]}"
        return Address(line, city.name, postal_code, chosen.code, province.name, is_urban)

    def ma_phone(self, kind: str = "mobile", region: str | None = None) -> str:
        """A phone number in E.164 form: ``mobile`` (06/07) or ``fixed`` (05, area prefix of the region)."""
        rng = self._rng
        plan = self.population.phone_plan
        if kind == "mobile":
            return f"+{plan.country_code}{plan.mobile_blocks.draw(rng)}{rng.randrange(10**7):07d}"
        if kind == "fixed":
            prefixes = self._region(region).fixed_prefixes
            prefix = prefixes[rng.randrange(len(prefixes))]
            return f"+{plan.country_code}{prefix}{rng.randrange(10**plan.fixed_digits):0{plan.fixed_digits}d}"
        raise UsageError(f"Unknown phone kind {kind!r}: expected one of {', '.join(PHONE_KINDS)}.")

    # --- activity and coverage -------------------------------------------------------------------

    def ma_activity(self, age: int, sex: str) -> str:
        """An activity code of ``coverage.yaml`` for a person of ``age`` and ``sex``."""
        if age < 0:
            raise UsageError(f"Invalid age {age}.")
        return self.population.activity_choice(age, _sex(sex)).draw(self._rng)

    def ma_coverage(self, age: int, activity: str | None = None, sex: str | None = None) -> str:
        """A coverage-scheme code of ``ma-coverage-scheme`` for a person of ``age`` and ``activity``.

        Without ``activity``, one is drawn for the age (and ``sex``, drawn too if omitted).
        """
        if activity is None:
            activity = self.ma_activity(age, self.ma_sex() if sex is None else sex)
        known = self.population.activities.get(activity)
        if known is None:
            raise UsageError(
                f"Unknown activity {activity!r}: expected one of "
                f"{', '.join(sorted(self.population.activities))}."
            )
        if not known.age_min <= age <= known.age_max:
            raise UsageError(
                f"The activity {activity!r} is for ages {known.age_min}-{known.age_max}, not {age}."
            )
        return self.population.schemes[activity].draw(self._rng)


def make_faker(seed: int | str, model: PopulationModel | None = None) -> Faker:
    """A Faker instance with :class:`MoroccoProvider`, seeded with ``seed`` (reproducible output)."""
    fake = Faker()
    fake.add_provider(MoroccoProvider(fake, model))
    fake.seed_instance(seed)
    return fake


__all__ = ["PHONE_KINDS", "SEXES", "Address", "MoroccoProvider", "make_faker", "national_phone"]
