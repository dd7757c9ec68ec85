"""Stream a synthetic population to disk in FHIR, HL7 v2 and CDA, with optional negative variants.

Layout under the output folder::

    fhir/<patient-id>.json            one transaction Bundle per patient (or fhir/patients.ndjson)
    hl7v2/<patient-id>.hl7            the patient's HL7 v2 messages (ER7), one after the other
    cda/<patient-id>-<doc-type>.xml   one CDA document per file
    manifest.json                     seed, versions, counts and every mutation (file, location, requirements)

A duplicate identity (the journey yields it right after its patient) is written like any record, and
its merge (SMR-T2) too: ``fhir/<id>-merge.json`` (in ndjson, its Patient line is in the merged state) and
an ADT^A40 at the end of its ``.hl7`` file. When CDA is written, each Bundle also carries the documents
(DocumentReference and Binary with the clean CDA bytes).

Patients are generated, rendered and written one at a time: memory does not grow with the count
(the mutation list goes to a scratch file and is copied into the manifest at the end). With
``invalid_rate`` each artefact (a Bundle, a v2 message, a CDA document) is mutated with that
probability, drawn from a random generator seeded with (seed, patient index, artefact), so two runs
with the same arguments write the same bytes.
"""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from testbed.core.errors import UsageError
from testbed.synthetic._content import load_content
from testbed.synthetic._files import FileQueue
from testbed.synthetic._writer_io import FhirSink, MutationLog, prepare_out_dir
from testbed.synthetic.fhir import FhirRenderer
from testbed.synthetic.model import PopulationModel
from testbed.synthetic.mutations import NotApplicable, choose
from testbed.synthetic.record import PatientRecord

FORMATS = ("fhir", "hl7v2", "cda")
"""Output formats, in the order they are written."""

_RENDERERS = {"hl7v2": ("hl7v2", "Hl7v2Renderer"), "cda": ("cda", "CdaRenderer")}
Progress = Callable[[int], None]


@dataclass(slots=True)
class Manifest:
    """What a run wrote (the full mutation list is in ``path``, the manifest file)."""

    path: Path
    seed: str
    patients: int
    formats: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)
    mutations: dict[str, int] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)

    @property
    def mutated(self) -> int:
        """How many artefacts were mutated."""
        return sum(self.mutations.values())


def available_formats() -> tuple[str, ...]:
    """The formats whose renderer module is installed and loads (FHIR always is)."""
    found = []
    for fmt in FORMATS:
        try:
            if fmt == "fhir" or _renderer_module(fmt) is not None:
                found.append(fmt)
        except UsageError:
            continue
    return tuple(found)


def write_population(
    out_dir: Path | str,
    seed: int | str,
    count: int,
    formats: Iterable[str],
    *,
    invalid_rate: float = 0.0,
    ndjson: bool = False,
    region: str | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Generate ``count`` patients from ``seed`` and write them in ``formats`` under ``out_dir``.

    Args:
        out_dir: output folder (created if needed).
        seed: the population seed; the same seed and arguments give the same files.
        count: number of patients (>= 1).
        formats: any of :data:`FORMATS`.
        invalid_rate: probability (0..1) that an artefact is replaced by a mutated one.
        ndjson: write FHIR as one ``fhir/patients.ndjson`` instead of one Bundle per patient.
        region: a ``ma-region`` code: every patient lives there.
        progress: called with the number of patients written after each patient.

    Raises:
        UsageError: a bad argument, a format whose renderer is not installed, an unwritable folder.
    """
    wanted = _check_arguments(count, formats, invalid_rate, region)
    out = prepare_out_dir(Path(out_dir), wanted, ndjson)
    registry, national = load_content()
    from testbed.synthetic.journey import JourneyOptions, iter_population

    options = JourneyOptions(region=region) if region is not None else None
    fhir = FhirRenderer(national, registry) if "fhir" in wanted else None
    hl7 = _renderer("hl7v2", national) if "hl7v2" in wanted else None
    cda = _renderer("cda", national) if "cda" in wanted else None
    log = MutationLog(out)
    counts = dict.fromkeys(_count_keys(wanted, ndjson), 0)
    seed_text = str(seed)
    previous: PatientRecord | None = None
    with FileQueue(out) as files, FhirSink(out, ndjson) as sink:
        for record in iter_population(seed, count, options=options):
            # The journey yields a duplicate identity right after the patient it duplicates.
            survivor = previous if previous is not None and previous.id == record.duplicate_of else None
            documents = _write_cda(files, cda, record, seed_text, invalid_rate, log, counts)
            if hl7 is not None:
                _write_hl7v2(files, hl7, record, survivor, seed_text, invalid_rate, log, counts)
            if fhir is not None:
                rng = _draw(seed_text, record.id, "fhir", invalid_rate)
                merged_into = survivor.id if survivor is not None else None
                written, applied = sink.write(record, fhir, documents, rng, merged_into)
                counts["fhir_resources"] += written
                if applied is not None:
                    log.add(applied[2], applied[0], applied[1])
                if survivor is not None and not ndjson:
                    sink.write_merge(record, survivor, fhir)
            counts["records"] += 1
            if record.duplicate_of is None:
                previous = record
                counts["patients"] += 1
                if progress is not None:
                    progress(counts["patients"])
            elif survivor is not None:
                counts["merges"] += 1
    manifest = Manifest(
        out / "manifest.json",
        seed_text,
        counts["patients"],
        wanted,
        counts,
        log.by_mutation,
        registry.versions(),
    )
    log.write_manifest(manifest.path, _header(manifest, invalid_rate, ndjson, region))
    return manifest


# --- per-format writers ----------------------------------------------------------------------------


def _write_cda(
    files: FileQueue,
    cda: Any,
    record: PatientRecord,
    seed: str,
    rate: float,
    log: MutationLog,
    counts: dict[str, int],
) -> dict[str, bytes] | None:
    if cda is None:
        return None
    clean: dict[str, bytes] = {}
    used: set[str] = set()
    for doc, data in cda.documents(record):
        clean[doc.id] = data
        name = f"{record.id}-{doc.type}"
        n = 2
        while name in used:
            name, n = f"{record.id}-{doc.type}-{n}", n + 1
        used.add(name)
        rel = f"cda/{name}.xml"
        mutated = _mutate("cda", data, seed, record.id, f"cda/{doc.id}", rate)
        if mutated is not None:
            mutation, result = mutated
            artefact = result.artefact
            data = artefact.encode("utf-8") if isinstance(artefact, str) else bytes(artefact)
            log.add({"file": rel, "location": result.location}, mutation, result.detail)
        files.put(rel, data)
        counts["cda_documents"] += 1
    return clean


def _write_hl7v2(
    files: FileQueue,
    hl7: Any,
    record: PatientRecord,
    survivor: PatientRecord | None,
    seed: str,
    rate: float,
    log: MutationLog,
    counts: dict[str, int],
) -> None:
    rel = f"hl7v2/{record.id}.hl7"
    texts: list[str] = []
    messages = list(hl7.messages(record))
    if survivor is not None:
        messages.append(hl7.merge_message(record, survivor))  # ADT^A40 (SMR-T2)
    for n, (_event, er7) in enumerate(messages, start=1):
        mutated = _mutate("hl7v2", er7, seed, record.id, f"hl7v2/{n}", rate)
        if mutated is not None:
            mutation, result = mutated
            er7 = str(result.artefact)
            log.add({"file": rel, "message": n, "location": result.location}, mutation, result.detail)
        texts.append(er7 if er7.endswith("\r") else er7 + "\r")
        counts["hl7v2_messages"] += 1
    if texts:
        # Segments end with CR (ER7); a newline between messages keeps the file readable in an editor.
        files.put(rel, ("\n".join(texts) + "\n").encode("utf-8"))
        counts["hl7v2_files"] += 1


def _draw(seed: str, record_id: str, name: str, rate: float) -> random.Random | None:
    """The random generator of one artefact when it is to be mutated (probability ``rate``), else None.

    ``record_id`` stands for the patient index (the journey derives it from the seed and the index, with a
    suffix for a duplicate identity, which shares its patient's index).
    """
    if rate <= 0:
        return None
    rng = random.Random(f"{seed}|{record_id}|{name}")
    return rng if rng.random() < rate else None


def _mutate(standard: str, artefact: Any, seed: str, record_id: str, name: str, rate: float) -> Any:
    """``(mutation, result)`` for this artefact with probability ``rate``, else None (reproducible).

    Bytes are decoded (UTF-8) only when the artefact is to be mutated.
    """
    rng = _draw(seed, record_id, name, rate)
    if rng is None:
        return None
    if isinstance(artefact, bytes):
        artefact = artefact.decode("utf-8")
    try:
        return choose(standard, artefact, rng)
    except NotApplicable:
        return None


# --- arguments, renderers, manifest ----------------------------------------------------------------


def _check_arguments(count: int, formats: Iterable[str], rate: float, region: str | None) -> tuple[str, ...]:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"The number of patients must be a whole number >= 1, got {count!r}.")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise UsageError(f"The invalid rate must be a number between 0 and 1, got {rate!r}.")
    asked = list(dict.fromkeys(formats))
    unknown = [f for f in asked if f not in FORMATS]
    if unknown or not asked:
        raise UsageError(
            f"Unknown output format(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(FORMATS)}."
        )
    missing = [f for f in asked if f != "fhir" and _renderer_module(f) is None]
    if missing:
        modules = ", ".join(f"testbed.synthetic.{_RENDERERS[f][0]}" for f in missing)
        raise UsageError(
            f"The {' and '.join(missing)} renderer is not available in this version of testbed ({modules} "
            f"is missing); available formats: {', '.join(available_formats())}."
        )
    if region is not None:
        PopulationModel.load().region(region)
    return tuple(f for f in FORMATS if f in asked)


def _renderer_module(fmt: str) -> ModuleType | None:
    """The renderer module of a format, None when it is not installed (a clear error when it is broken)."""
    name = f"testbed.synthetic.{_RENDERERS[fmt][0]}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise UsageError(f"The {fmt} renderer ({name}) cannot be loaded: {exc}.") from None
    except ImportError as exc:
        raise UsageError(f"The {fmt} renderer ({name}) cannot be loaded: {exc}.") from None


def _renderer(fmt: str, national: Any) -> Any:
    module = _renderer_module(fmt)
    assert module is not None  # checked by _check_arguments
    return getattr(module, _RENDERERS[fmt][1])(national)


def _count_keys(formats: tuple[str, ...], ndjson: bool) -> list[str]:
    keys = ["patients", "records", "merges"]
    if "fhir" in formats:
        keys.append("fhir_resources")
    if "hl7v2" in formats:
        keys += ["hl7v2_files", "hl7v2_messages"]
    if "cda" in formats:
        keys.append("cda_documents")
    return keys


def _header(manifest: Manifest, rate: float, ndjson: bool, region: str | None) -> dict[str, Any]:
    from testbed import __version__

    return {
        "testbed": __version__,
        "seed": manifest.seed,
        "patients": manifest.patients,
        "formats": list(manifest.formats),
        "options": {"invalid_rate": rate, "ndjson": ndjson, "region": region},
        "packages": dict(sorted(manifest.packages.items())),
        "counts": manifest.counts,
        "mutated": manifest.mutated,
        "mutations_by_id": dict(sorted(manifest.mutations.items())),
    }


def load_manifest(path: Path | str) -> dict[str, Any]:
    """Read a manifest written by :func:`write_population`."""
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


__all__ = ["FORMATS", "Manifest", "available_formats", "load_manifest", "write_population"]
