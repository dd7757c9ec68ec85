"""Synthetic patients for scenarios: one seeded record, its renderings, and the mutated variants.

A fixture ``patient: {index: 0, mutations: [fhir.ins-key]}`` becomes a :class:`PatientFixture` in the
templates: ``{{ patient.resource }}`` (the Patient, without id), ``{{ patient.ins }}``,
``{{ patient.take('Condition') }}``, ``{{ patient.mutated }}`` (the one resource a FHIR mutation broke)
and ``{{ patient.mutation.location }}`` (where, as ``Type.path``). The record comes from
:func:`testbed.synthetic.journey.generate_patient` with a seed derived from the run's seed and the
scenario id, so scenarios never share a patient and a run is reproduced by its seed.
"""

from __future__ import annotations

import copy
import hashlib
import random
import re
from collections.abc import Mapping
from datetime import date
from functools import cached_property
from typing import Any

from testbed.national import NationalContent
from testbed.packages import PackageRegistry
from testbed.scenarios.model import FixtureSpec
from testbed.scenarios.renderings import CdaView, V2View, mutate_cda
from testbed.scenarios.results import StepError

Json = dict[str, Any]
_BUNDLE_ENTRY = re.compile(r"^Bundle\.entry\[(?P<i>[0-9]+)\]\.resource(?:\.(?P<rest>.*))?$")


def scenario_seed(run_seed: int | str, scenario_id: str) -> int:
    """The seed of one scenario's fixtures: stable for (run seed, scenario id)."""
    digest = hashlib.sha256(f"{run_seed}/{scenario_id}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


class FixtureFactory:
    """Builds fixtures; holds the renderers (loaded once per run)."""

    def __init__(self, registry: PackageRegistry, national: NationalContent) -> None:
        self.registry = registry
        self.national = national

    @cached_property
    def fhir(self) -> Any:
        from testbed.synthetic.fhir import FhirRenderer

        return FhirRenderer(self.national, self.registry)

    @cached_property
    def cda(self) -> Any:
        from testbed.synthetic.cda import CdaRenderer

        return CdaRenderer(self.national)

    @cached_property
    def hl7v2(self) -> Any:
        from testbed.synthetic.hl7v2 import Hl7v2Renderer

        return Hl7v2Renderer(self.national)

    def build(self, spec: FixtureSpec, seed: int) -> PatientFixture:
        """The fixture ``spec`` for a scenario seed.

        Raises:
            StepError: the generator or a mutation cannot produce it.
        """
        from testbed.synthetic.journey import JourneyOptions, generate_records

        options = dict(spec.options)
        which = options.pop("record", "survivor")
        if which == "duplicate":
            options.setdefault("duplicate_rate", 1.0)
        if isinstance(options.get("reference_date"), str):
            options["reference_date"] = date.fromisoformat(options["reference_date"])
        try:
            journey = JourneyOptions(**options)
        except Exception as exc:  # noqa: BLE001 - bad options make the scenario unjudgeable
            raise StepError(f"fixture {spec.name!r}: bad generator options: {exc}") from None
        for index in range(spec.index, spec.index + _SEARCH):
            try:
                records = generate_records(seed, index, options=journey)
            except Exception as exc:  # noqa: BLE001 - generator problems make the scenario unjudgeable
                raise StepError(f"fixture {spec.name!r}: the synthetic generator failed: {exc}") from None
            if which == "duplicate" and len(records) < 2:
                continue
            record = records[-1] if which == "duplicate" else records[0]
            if not all(has(record, n) for n in spec.needs):
                continue
            survivor = records[0] if which == "duplicate" else None
            fixture = PatientFixture(self, spec, record, seed, survivor=survivor)
            try:
                fixture.mutation  # noqa: B018 - applies the FHIR mutations now
            except _NotApplicable:
                continue  # this patient has nothing the mutation can break: take the next one
            if not fixture.renderings_fit():
                continue  # nor its v2 messages or CDA document
            return fixture
        wanted = ", ".join([*spec.needs, *spec.mutations]) or "the fixture's options"
        raise StepError(
            f"fixture {spec.name!r}: no patient fits ({wanted}) among {_SEARCH} patients "
            f"from index {spec.index}"
        )


_SEARCH = 500


class _NotApplicable(StepError):
    """A fixture's mutation finds nothing to break in this patient."""


_RECORD_FIELDS = {
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationRequest": "prescriptions",
    "AllergyIntolerance": "allergies",
    "Immunization": "immunizations",
    "Encounter": "encounters",
    "DocumentReference": "documents",
    "document": "documents",
    "Coverage": "coverage",
    "Consent": "consent",
}


def has(record: Any, need: str) -> bool:
    """Whether a record has what a fixture ``needs`` (a resource type, ``ins``, ``cnie``, ``lab`` …)."""
    if need in ("ins", "cnie", "carte_sejour", "passport"):
        return bool(getattr(record.identity, need))
    if need in ("lab", "vital"):
        return any(o.kind == need for o in record.observations)
    if need == "duplicate":
        return record.duplicate_of is not None
    name = _RECORD_FIELDS.get(need)
    if name is None:
        raise StepError(
            f"unknown fixture need {need!r}; known: ins, cnie, lab, vital, {', '.join(_RECORD_FIELDS)}"
        )
    return bool(getattr(record, name))


class PatientFixture:
    """A synthetic patient as the templates see it (see the module docstring)."""

    def __init__(
        self, factory: FixtureFactory, spec: FixtureSpec, record: Any, seed: int, *, survivor: Any = None
    ) -> None:
        self._factory = factory
        self.survivor_record = survivor
        self._spec = spec
        self.record = record
        self.seed = seed
        self.id = str(record.id)
        self._mutation: dict[str, Any] | None = None
        self._clean: Json | None = None
        self._rest: Json | None = None

    # --- renderings ------------------------------------------------------------------------------

    def _documents(self) -> dict[str, bytes] | None:
        """The CDA of every document, when the fixture needs documents (rendering them costs time)."""
        if not {"document", "DocumentReference"} & set(self._spec.needs) and not any(
            m.startswith("fhir.document") for m in self._spec.mutations
        ):
            return None
        return {doc.id: self._cda_bytes(doc) for doc in self.record.documents}

    def _cda_bytes(self, doc: Any) -> bytes:
        data = self._factory.cda.render(self.record, doc)
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def _clean_bundle(self) -> Json:
        if self._clean is None:
            resources = list(self._factory.fhir.resources(self.record, self._documents()))
            self._clean = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{"resource": r} for r in resources],
            }
        return self._clean

    def _rest_bundle(self) -> Json:
        """The record's resources (REST form) with the FHIR mutations applied."""
        if self._rest is None:
            self._rest = self._mutate(self._clean_bundle(), record_location=True)
        return self._rest

    @property
    def bundle(self) -> Json:
        """The whole record as a transaction Bundle (``urn:uuid`` references), as generated."""
        return copy.deepcopy(self._factory.fhir.bundle(self.record))

    @property
    def mutated_bundle(self) -> Json:
        """:attr:`bundle` with the fixture's FHIR mutations applied."""
        return self._mutate(self._factory.fhir.bundle(self.record), record_location=False)

    def _mutate(self, bundle: Json, *, record_location: bool) -> Json:
        from testbed.synthetic import mutations

        for mutation_id in self._spec.mutations:
            mutation = mutations.get(mutation_id)
            if mutation.standard != "fhir":
                continue
            rng = random.Random(f"{self.seed}/{mutation_id}")
            try:
                result = mutation.apply(bundle, rng)
            except mutations.NotApplicable as exc:
                raise _NotApplicable(
                    f"fixture {self._spec.name!r}: mutation {mutation_id} does not apply: {exc}"
                ) from None
            bundle = result.artefact
            if record_location:
                self._mutation = self._describe(mutation, result, bundle)
        return bundle

    @staticmethod
    def _describe(mutation: Any, result: Any, bundle: Json) -> dict[str, Any]:
        match = _BUNDLE_ENTRY.match(result.location)
        index = int(match["i"]) if match else None
        resource = bundle["entry"][index]["resource"] if index is not None else None
        location = result.location
        if match and isinstance(resource, dict):
            rest = match["rest"]
            location = f"{resource.get('resourceType')}{'.' + rest if rest else ''}"
        return {
            "id": mutation.id,
            "location": location,
            "bundle_location": result.location,
            "detail": result.detail,
            "requirements": list(mutation.requirements),
            "rule": mutation.rule,
            "entry": index,
        }

    # --- resources -------------------------------------------------------------------------------

    @property
    def resource(self) -> Json:
        """The Patient resource, without ``id`` (ready to POST)."""
        return self.take("Patient")

    @property
    def mutated(self) -> Json:
        """The resource the fixture's FHIR mutation broke, without ``id``.

        Raises:
            StepError: the fixture declares no FHIR mutation.
        """
        info = self.mutation
        if info is None or info.get("entry") is None:
            raise StepError(f"fixture {self._spec.name!r} has no FHIR mutation: declare one in 'mutations'")
        return _without_id(self._rest_bundle()["entry"][info["entry"]]["resource"])

    @property
    def mutation(self) -> dict[str, Any] | None:
        """The FHIR mutation applied: ``id``, ``location`` (``Type.path``), ``detail``, ``requirements``."""
        self._rest_bundle()
        return self._mutation

    def take(self, resource_type: str, n: int = 0) -> Json:
        """The ``n``-th resource of ``resource_type`` of the record (REST form, no ``id``).

        Raises:
            StepError: the record has no such resource.
        """
        found = self.all(resource_type)
        if n >= len(found):
            raise StepError(
                f"fixture {self._spec.name!r} has {len(found)} {resource_type} resource(s); "
                f"asked for number {n + 1}"
            )
        return found[n]

    def all(self, resource_type: str) -> list[Json]:
        """Every resource of ``resource_type`` of the record (REST form, no ``id``)."""
        return [
            _without_id(e["resource"])
            for e in self._clean_bundle()["entry"]
            if e["resource"].get("resourceType") == resource_type
        ]

    def for_push(self, resource_type: str, patient: str, n: int = 0) -> Json:
        """The ``n``-th resource of that type, ready to POST on its own (SMR-T6).

        Its patient reference becomes ``patient`` (e.g. ``Patient/<id the SMR assigned>``); references to
        resources that are not sent (practitioners, organizations, encounters) become logical references
        by identifier, or are dropped when the target has none.
        """
        return self._rebind(self.take(resource_type, n), patient)

    def without_identifier(self, key: str) -> Json:
        """The Patient without its identifiers of one national system (``ins``, ``cnie`` …)."""
        system = self._factory.national.identifier(key).uri
        resource = self.resource
        resource["identifier"] = [i for i in resource.get("identifier") or [] if i.get("system") != system]
        return resource

    @property
    def survivor(self) -> PatientFixture:
        """For a ``record: duplicate`` fixture: the surviving record of the same person."""
        if self.survivor_record is None:
            raise StepError(
                f"fixture {self._spec.name!r} is not a duplicate record (options: record: duplicate)"
            )
        spec = FixtureSpec(f"{self._spec.name}.survivor", self._spec.index, self._spec.options)
        return PatientFixture(self._factory, spec, self.survivor_record, self.seed)

    def mutated_for_push(self, patient: str) -> Json:
        """:attr:`mutated`, ready to POST on its own (see :meth:`for_push`)."""
        return self._rebind(self.mutated, patient)

    def _rebind(self, resource: Json, patient: str) -> Json:
        others = {
            f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
            for e in self._clean_bundle()["entry"]
            if "id" in e["resource"] and e["resource"]["resourceType"] != "Patient"
        }
        rebound: Json = _logical_references(resource, others, {f"Patient/{self.id}": patient})
        return rebound

    def _observation_index(self, category: str) -> int:
        for n, obs in enumerate(self.all("Observation")):
            codes = {c.get("code") for cat in obs.get("category") or [] for c in cat.get("coding") or []}
            if category in codes:
                return n
        raise StepError(f"fixture {self._spec.name!r} has no {category} Observation (add it to 'needs')")

    @property
    def lab_index(self) -> int:
        """The position of the first laboratory Observation among the record's Observations."""
        return self._observation_index("laboratory")

    @property
    def vital_index(self) -> int:
        """The position of the first vital-signs Observation among the record's Observations."""
        return self._observation_index("vital-signs")

    def count(self, resource_type: str) -> int:
        """How many resources of that type the record has."""
        return len(self.all(resource_type))

    # --- identity --------------------------------------------------------------------------------

    def _identifier(self, key: str) -> str | None:
        system = self._factory.national.identifier(key).uri
        for ident in self.resource.get("identifier") or []:
            if ident.get("system") == system:
                return str(ident.get("value"))
        return None

    @property
    def ins(self) -> str | None:
        """The INS value, if the patient has one."""
        return self._identifier("ins")

    @property
    def cnie(self) -> str | None:
        """The CNIE value, if any."""
        return self._identifier("cnie")

    @property
    def ins_system(self) -> str:
        """The INS identifier system."""
        return self._factory.national.identifier("ins").uri

    @property
    def identifier_token(self) -> str:
        """``system|value`` of the INS (else of the first identifier), for ``?identifier=``."""
        idents = self.resource.get("identifier") or []
        ins = self.ins
        if ins is not None:
            return f"{self.ins_system}|{ins}"
        if not idents:
            raise StepError(f"fixture {self._spec.name!r}: the patient has no identifier")
        return f"{idents[0]['system']}|{idents[0]['value']}"

    @property
    def family(self) -> str:
        """The family name of the first name."""
        return str((self.resource.get("name") or [{}])[0].get("family", ""))

    @property
    def given(self) -> str:
        """The first given name of the first name."""
        return str(((self.resource.get("name") or [{}])[0].get("given") or [""])[0])

    @property
    def birth_date(self) -> str:
        """The birth date, ISO 8601."""
        return str(self.resource.get("birthDate", ""))

    @property
    def gender(self) -> str:
        """The FHIR administrative gender code."""
        return str(self.resource.get("gender", ""))

    # --- documents and messages ------------------------------------------------------------------

    def mutated_document_bundle(self, document: int | str = 0) -> Json:
        """:meth:`document_bundle` with the fixture's FHIR mutations applied."""
        return self.document_bundle(document, mutated=True)

    def document_bundle(self, document: int | str = 0, *, mutated: bool = False) -> Json:
        """An MABundleDocumentSubmission for one of the record's documents (index or type code).

        Holds the DocumentReference, its Binary (the CDA) and the Patient, as the renderer makes them.
        """
        docs = list(self.record.documents)
        chosen = (
            next((d for d in docs if d.type == document), None)
            if isinstance(document, str)
            else (docs[document] if 0 <= document < len(docs) else None)
        )
        if chosen is None:
            raise StepError(
                f"fixture {self._spec.name!r}: no document {document!r} "
                f"(the record has {', '.join(d.type for d in docs) or 'none'})"
            )
        data = self._cda_bytes(chosen)
        if mutated:
            data = mutate_cda(data, self._spec.mutations, self.seed, f"fixture {self._spec.name!r}")
        full = self._factory.fhir.bundle(self.record, {chosen.id: data})
        if mutated:
            full = self._mutate(full, record_location=False)
        keep = {"Patient", "DocumentReference", "Binary"}
        entries = [e for e in full["entry"] if e["resource"].get("resourceType") in keep]
        others = {
            e["fullUrl"]: e["resource"]
            for e in full["entry"]
            if e["resource"].get("resourceType") not in keep
        }
        for entry in entries:
            entry["resource"] = _logical_references(entry["resource"], others)
        profile = self._factory.national.profile_url("DocumentSubmission")
        return {
            "resourceType": "Bundle",
            "meta": {"profile": [profile]},
            "type": "transaction",
            "entry": entries,
        }

    @cached_property
    def v2(self) -> V2View:
        """The record's HL7 v2 messages: ``v2('A04')``, ``v2.a04``, ``v2.mutated('A04')`` (ER7 text).

        See :mod:`testbed.scenarios.renderings`.
        """
        return V2View(
            self._factory.hl7v2,
            self.record,
            survivor=self.survivor_record,
            mutations=self._spec.mutations,
            seed=self.seed,
            label=self._spec.name,
        )

    @cached_property
    def cda(self) -> CdaView:
        """The record's CDA documents: ``cda.text(0)`` (see :mod:`~testbed.scenarios.renderings`)."""
        by_id = {d.id: d for d in self.record.documents}
        return CdaView(
            lambda doc: self._cda_bytes(by_id[doc.id]),
            self.record,
            lambda rtype: [
                e["resource"]
                for e in self._clean_bundle()["entry"]
                if e["resource"].get("resourceType") == rtype
            ],
            label=self._spec.name,
        )

    def renderings_fit(self) -> bool:
        """Whether the fixture's ``hl7v2.*`` and ``cda.*`` mutations find what they break."""
        return self.v2.fits() and self.cda.fits(self._spec.mutations, self.seed)

    def mutated_v2(self, event: str) -> str:
        """:meth:`v2` with the fixture's HL7 v2 mutations applied."""
        from testbed.synthetic import mutations

        text = self.v2(event)
        for mutation_id in self._spec.mutations:
            mutation = mutations.get(mutation_id)
            if mutation.standard != "hl7v2":
                continue
            try:
                text = mutation.apply(text, random.Random(f"{self.seed}/{mutation_id}")).artefact
            except mutations.NotApplicable as exc:
                raise _NotApplicable(
                    f"fixture {self._spec.name!r}: mutation {mutation_id} does not apply: {exc}"
                ) from None
        return text


def _logical_references(
    value: Any, others: Mapping[str, Json], rename: Mapping[str, str] | None = None
) -> Any:
    """Replace references to resources left out of a submission Bundle by their identifier (or drop them).

    An MABundleDocumentSubmission holds only the DocumentReference, its Binary and the Patient
    (MA-DOC-009): authors and custodian are named by their INPE, the encounter is left out.
    """
    if isinstance(value, dict):
        out: Json = {}
        for key, item in value.items():
            if key == "reference" and rename and item in rename:
                out[key] = rename[item]
                continue
            ref = item.get("reference") if isinstance(item, dict) else None
            if isinstance(ref, str) and ref in others:
                logical = _identifier_reference(others[ref])
                if logical is not None:
                    out[key] = logical
                continue
            if isinstance(item, list):
                kept = []
                for element in item:
                    eref = element.get("reference") if isinstance(element, dict) else None
                    if isinstance(eref, str) and eref in others:
                        logical = _identifier_reference(others[eref])
                        if logical is not None:
                            kept.append(logical)
                    else:
                        kept.append(_logical_references(element, others, rename))
                if kept:
                    out[key] = kept
                continue
            replaced = _logical_references(item, others, rename)
            if replaced != {}:
                out[key] = replaced
        return out
    return value


def _identifier_reference(target: Json) -> Json | None:
    idents = [i for i in target.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    if not idents:
        return None
    ident = {k: idents[0][k] for k in ("system", "value") if k in idents[0]}
    return {"type": target.get("resourceType"), "identifier": ident}


def _without_id(resource: Json) -> Json:
    copied = copy.deepcopy(resource)
    copied.pop("id", None)
    return copied


def build_fixtures(
    factory: FixtureFactory, specs: Mapping[str, FixtureSpec], seed: int
) -> dict[str, PatientFixture]:
    """Every fixture of a scenario (records are generated now; renderings on first use)."""
    return {name: factory.build(spec, seed) for name, spec in specs.items()}
