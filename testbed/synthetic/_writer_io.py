"""File handling of the population writer: the output folder, the FHIR sink and the mutation log."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from testbed.core.errors import UsageError
from testbed.synthetic._json import dumps as _encode
from testbed.synthetic.fhir import Documents, FhirRenderer
from testbed.synthetic.mutations import Mutation, NotApplicable, choose
from testbed.synthetic.record import PatientRecord

Json = dict[str, Any]
NDJSON = "fhir/patients.ndjson"
_SCRATCH = ".manifest-mutations.jsonl"
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource(?:\.(.*))?$")
_SHARED = ("Organization", "Practitioner")


def prepare_out_dir(out: Path, formats: tuple[str, ...], ndjson: bool) -> Path:
    """Create the output folder and one sub-folder per format; a clear error when it cannot be written."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"The output path {out} exists and is not a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            (out / fmt).mkdir(exist_ok=True)
        probe = out / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"Cannot write to the output folder {out}: {exc.strerror or exc}.") from None
    return out


class MutationLog:
    """Mutations applied so far, kept in a scratch file (not in memory) until the manifest is written."""

    def __init__(self, out: Path) -> None:
        self._path = out / _SCRATCH
        self._file: IO[str] | None = None
        self.by_mutation: dict[str, int] = {}

    def add(self, where: Json, mutation: Mutation, detail: str) -> None:
        """Record one mutated artefact: ``where`` gives its file (and line or message) and location."""
        if self._file is None:
            self._file = self._path.open("w", encoding="utf-8", newline="\n")
        entry = {
            **where,
            "mutation": mutation.id,
            "requirements": list(mutation.requirements),
            "rule": mutation.rule,
            "detail": detail,
        }
        self._file.write(_encode(entry) + "\n")
        self.by_mutation[mutation.id] = self.by_mutation.get(mutation.id, 0) + 1

    def write_manifest(self, path: Path, header: Json) -> None:
        """Write ``header`` and the mutation list (one compact object per line) as ``path``."""
        if self._file is not None:
            self._file.close()
        head = json.dumps(header, ensure_ascii=False, indent=2)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8", newline="\n") as out:
            out.write(head[: head.rstrip().rfind("}")].rstrip() + ',\n  "mutations": [')
            first = True
            if self._path.exists():
                with self._path.open(encoding="utf-8") as lines:
                    for line in lines:
                        out.write(("\n    " if first else ",\n    ") + line.rstrip("\n"))
                        first = False
            out.write("\n  ]\n}\n" if not first else "]\n}\n")
        os.replace(tmp, path)
        self._path.unlink(missing_ok=True)


class FhirSink:
    """Writes each patient's FHIR: one Bundle file, or lines of ``fhir/patients.ndjson``.

    In ndjson, Organizations and Practitioners are written once (first seen); a mutated one is written
    again where it is broken, so the manifest line points at it.
    """

    def __init__(self, out: Path, ndjson: bool) -> None:
        self.out = out
        self.ndjson = ndjson
        self._file: IO[str] | None = None
        self._line = 0
        self._seen: set[tuple[str, str]] = set()

    def __enter__(self) -> FhirSink:
        if self.ndjson:
            self._file = (self.out / NDJSON).open("w", encoding="utf-8", newline="\n")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._file is not None:
            self._file.close()

    def write(
        self,
        record: PatientRecord,
        fhir: FhirRenderer,
        documents: Documents | None,
        rng: random.Random | None,
        merged_into: str | None = None,
    ) -> tuple[int, tuple[Mutation, str, Json] | None]:
        """Write one patient; returns (resources written, (mutation, detail, where) when one was applied).

        ``merged_into``: the survivor's id when the record is a duplicate identity; in ndjson (the state
        after the merge, SMR-T2) its Patient then has ``active`` false and a ``replaced-by`` link.
        """
        if not self.ndjson:
            bundle = fhir.bundle(record, documents)
            rel = f"fhir/{record.id}.json"
            applied = _apply(bundle, rng)
            if applied is not None:
                bundle = applied[0]
            (self.out / rel).write_text(_encode(bundle), encoding="utf-8", newline="\n")
            if applied is None:
                return len(bundle["entry"]), None
            mutation, location, detail = applied[1:]
            return len(bundle["entry"]), (mutation, detail, {"file": rel, "location": location})
        resources = list(fhir.resources(record, documents))
        broken: int | None = None
        where: Json = {}
        applied = _apply(fhir.bundle(record, documents), rng) if rng is not None else None
        if applied is not None:
            mutated, mutation, location, detail = applied
            broken, resource, path = _ndjson_target(mutated, resources, location)
            resources[broken] = resource
            where = {"file": NDJSON, "line": 0, "location": path}
        if merged_into is not None and resources and resources[0]["resourceType"] == "Patient":
            resources[0]["active"] = False
            resources[0]["link"] = [{"other": {"reference": f"Patient/{merged_into}"}, "type": "replaced-by"}]
        assert self._file is not None
        written = 0
        for k, res in enumerate(resources):
            rtype = res["resourceType"]
            if rtype in _SHARED and k != broken:
                key = (rtype, res["id"])
                if key in self._seen:
                    continue
                self._seen.add(key)
            self._file.write(_encode(res) + "\n")
            self._line += 1
            written += 1
            if k == broken:
                where["line"] = self._line
        if applied is None:
            return written, None
        return written, (applied[1], applied[3], where)

    def write_merge(self, duplicate: PatientRecord, survivor: PatientRecord, fhir: FhirRenderer) -> None:
        """SMR-T2 for a duplicate identity, as ``fhir/<id>-merge.json`` (one Bundle per patient only)."""
        bundle = fhir.merge_bundle(duplicate, survivor)
        (self.out / f"fhir/{duplicate.id}-merge.json").write_text(
            _encode(bundle), encoding="utf-8", newline="\n"
        )


def _apply(bundle: Json, rng: random.Random | None) -> tuple[Json, Mutation, str, str] | None:
    if rng is None:
        return None
    try:
        mutation, result = choose("fhir", bundle, rng)
    except NotApplicable:
        return None
    return result.artefact, mutation, result.location, result.detail


def _ndjson_target(bundle: Json, clean: list[Json], location: str) -> tuple[int, Json, str]:
    """The broken entry of a mutated Bundle as an ndjson resource (id, ``Type/id`` references)."""
    m = _ENTRY.match(location)
    if m is None:
        raise UsageError(f"A FHIR mutation gave a location outside a Bundle entry ({location}).")
    k = int(m.group(1))
    urls = {
        e["fullUrl"]: f"{c['resourceType']}/{c['id']}" for e, c in zip(bundle["entry"], clean, strict=True)
    }
    resource = _rest_references(bundle["entry"][k]["resource"], urls)
    rtype = resource["resourceType"]
    resource = {
        "resourceType": rtype,
        "id": clean[k]["id"],
        **{a: b for a, b in resource.items() if a != "resourceType"},
    }
    return k, resource, rtype + (f".{m.group(2)}" if m.group(2) else "")


def _rest_references(value: Any, urls: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("reference", "url") and isinstance(item, str):
                out[key] = urls.get(item, item)
            else:
                out[key] = _rest_references(item, urls)
        return out
    if isinstance(value, list):
        return [_rest_references(item, urls) for item in value]
    return value
