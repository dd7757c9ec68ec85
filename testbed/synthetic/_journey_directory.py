"""Who cares for a patient where: practitioners of the directory by route, region and province (cached)."""

from __future__ import annotations

import threading

from testbed.synthetic._journey_types import Route, Settings
from testbed.synthetic._sampling import WeightedChoice
from testbed.synthetic.model import Establishment, PopulationModel, Practitioner

Seat = tuple[Practitioner, Establishment]
"""A practitioner and the establishment they work at."""


class Directory:
    """Draws practitioners for routes; those of the patient's province weigh ``same_province`` times more.

    When no establishment of the region offers a route, the candidates of the whole country are used (patients
    travel to a CHU of another region); a route nobody offers anywhere gives None.
    """

    def __init__(self, model: PopulationModel, settings: Settings) -> None:
        self._model = model
        self._same_province = settings.same_province
        self._by_specialty: dict[str, list[Seat]] = {}
        for practitioner in model.practitioners:
            seat = (practitioner, model.establishment(practitioner.establishment))
            self._by_specialty.setdefault(practitioner.specialty, []).append(seat)
        self._cache: dict[tuple[str, tuple[str, ...], bool, str, str], WeightedChoice[Seat] | None] = {}
        self._lock = threading.Lock()
        self._lab_route = Route("AMB", settings.lab_types, "BIO", 1.0)
        self._vaccination_routes = tuple(
            Route("AMB", settings.vaccination_types, specialty, 1.0)
            for specialty in settings.vaccination_specialties
        )
        self._in_house = frozenset(settings.lab_in_house)
        self._biologists: dict[str, tuple[Practitioner, ...]] = {}
        for practitioner, establishment in self._by_specialty.get("BIO", []):
            self._biologists.setdefault(establishment.inpe, ())
            self._biologists[establishment.inpe] += (practitioner,)

    def seats(self, route: Route, region: str, province: str) -> WeightedChoice[Seat] | None:
        """The practitioners who may see a patient of ``region``/``province`` on ``route``."""
        key = (route.specialty, route.types, route.national, region, province)
        try:
            return self._cache[key]
        except KeyError:
            choice = self._build(route, region, province)
        with self._lock:
            self._cache[key] = choice
        return choice

    def _build(self, route: Route, region: str, province: str) -> WeightedChoice[Seat] | None:
        candidates = [s for s in self._by_specialty.get(route.specialty, []) if s[1].type in route.types]
        local = candidates if route.national else [s for s in candidates if s[1].region == region]
        if local:
            return WeightedChoice(
                local, [self._same_province if s[1].province == province else 1.0 for s in local]
            )
        if candidates:
            return WeightedChoice(candidates, [1.0] * len(candidates))
        return None

    def lab(self, region: str, province: str) -> WeightedChoice[Seat] | None:
        """Biologists of the laboratories (``lab_types``) serving the patient's area."""
        return self.seats(self._lab_route, region, province)

    def in_house_biologists(self, establishment: Establishment) -> tuple[Practitioner, ...]:
        """Biologists of a hospital that reports its own tests (``lab_in_house`` types), else none."""
        if establishment.type not in self._in_house:
            return ()
        return self._biologists.get(establishment.inpe, ())

    def vaccinators(self, region: str, province: str) -> WeightedChoice[Seat] | None:
        """Staff of the primary care centres that give the PNI doses in the patient's area."""
        for route in self._vaccination_routes:
            choice = self.seats(route, region, province)
            if choice is not None:
                return choice
        return None
