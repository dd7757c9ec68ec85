"""A fixture's HL7 v2 messages and CDA documents, as scenario templates see them.

``{{ patient.v2.a04 }}`` is the record's ADT^A04 (ER7 text); ``patient.v2('ADT^A28')`` the same by
event; ``patient.v2.a08`` the update message (the record's own when it has several visits, else the
ADT^A04 re-sent as ADT^A08); ``patient.v2.a40`` the merge of a duplicate record into its survivor;
``patient.v2.edit('A08', {'PID-11[1].3': 'Imilchil'})`` a message with fields replaced (an update);
``patient.v2.mutated('A04')`` the message with the fixture's ``hl7v2.*`` mutations and
``patient.v2.mutation_location('A04')`` where they broke it (``PID-3[1].1``).

``{{ patient.cda.CRH }}`` is the CDA text of the record's first document of that ``ma-document-type``
code; ``patient.cda.text(0)`` by index; ``patient.cda.index_with('Condition')`` the first document with
entries of the resource types given and ``patient.cda.entry_index(doc, 'Condition')`` the position of that
entry among the record's resources of the type (for ``patient.for_push('Condition', …, n)``).
``cda.*`` mutations of the fixture are applied to the document of a ``submit_document`` with
``mutated: true`` (:func:`mutate_cda`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from testbed.scenarios.results import StepError

_FIELD = re.compile(
    r"^(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<occ>[0-9]+)\])?-(?P<field>[0-9]+)"
    r"(?:\[(?P<rep>[0-9]+)\])?(?:\.(?P<comp>[0-9]+))?$"
)
_STRUCTURE = {"A04": "ADT_A01", "A08": "ADT_A01", "A01": "ADT_A01", "A03": "ADT_A03"}


def _event_key(name: str) -> str:
    """``ADT^A04`` → ``A04``; ``a04`` → ``A04``."""
    return name.split("^")[-1].upper()


def _mutations(ids: Iterable[str], standard: str) -> list[Any]:
    from testbed.synthetic import mutations

    found = [mutations.get(m) for m in ids]
    return [m for m in found if m.standard == standard]


def apply_mutations(
    artefact: Any, ids: Iterable[str], standard: str, seed: int, label: str
) -> tuple[Any, list[str]]:
    """Apply the fixture's mutations of one standard: (the broken artefact, the locations broken).

    Raises:
        StepError: a mutation finds nothing to break in the artefact.
    """
    from testbed.synthetic import mutations

    locations = []
    for mutation in _mutations(ids, standard):
        try:
            result = mutation.apply(artefact, random.Random(f"{seed}/{mutation.id}"))
        except mutations.NotApplicable as exc:
            raise StepError(f"{label}: mutation {mutation.id} does not apply: {exc}") from None
        artefact = result.artefact
        locations.append(result.location)
    return artefact, locations


def mutate_cda(data: bytes, ids: Iterable[str], seed: int, label: str) -> bytes:
    """A CDA document with the fixture's ``cda.*`` mutations applied (bytes in, bytes out)."""
    out, _ = apply_mutations(data, ids, "cda", seed, label)
    return out.encode("utf-8") if isinstance(out, str) else bytes(out)


class V2View:
    """The HL7 v2 messages of a fixture's record (see the module docstring)."""

    def __init__(
        self,
        renderer: Any,
        record: Any,
        *,
        survivor: Any = None,
        mutations: Iterable[str] = (),
        seed: int = 0,
        label: str = "fixture",
    ) -> None:
        self._renderer = renderer
        self._record = record
        self._survivor = survivor
        self._mutation_ids = tuple(mutations)
        self._seed = seed
        self._label = label
        self._cache: list[tuple[str, str]] | None = None

    def _messages(self) -> list[tuple[str, str]]:
        if self._cache is None:
            self._cache = list(self._renderer.messages(self._record))
        return self._cache

    def events(self) -> list[str]:
        """The events the record has messages for (``ADT^A28``, ``ADT^A04`` …), in time order."""
        found = [name for name, _ in self._messages()]
        if self._survivor is not None:
            found.append("ADT^A40")
        return found

    def __call__(self, event: str) -> str:
        """The message of a trigger event (``A04``, ``ADT^A28``, ``R01``), ER7 text.

        Raises:
            StepError: the record has no message for that event.
        """
        key = _event_key(event)
        if key == "A40":
            return self._merge()
        for name, text in self._messages():
            if _event_key(name) == key:
                return str(text)
        if key == "A08":
            return self._as_update()
        raise StepError(
            f"fixture {self._label!r}: no HL7 v2 message {event!r} "
            f"(the record has {', '.join(self.events()) or 'none: it has no visit'})"
        )

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or not re.fullmatch(r"[a-zA-Z][0-9]{2}", name):
            raise AttributeError(name)
        return self(name)

    def _merge(self) -> str:
        if self._survivor is None:
            raise StepError(
                f"fixture {self._label!r}: ADT^A40 needs a duplicate record (options: record: duplicate)"
            )
        return str(self._renderer.merge_message(self._record, self._survivor)[1])

    def _as_update(self) -> str:
        """The ADT^A04 sent again as ADT^A08 (a record with one visit has no update of its own)."""
        segments = [s for s in self("A04").split("\r") if s]
        sep = segments[0][3]
        cs = segments[0][4]
        msh = segments[0].split(sep)
        msh[8] = f"ADT{cs}A08{cs}{_STRUCTURE['A08']}"
        msh[9] = (msh[9][:-3] + "U08")[-20:]
        segments[0] = sep.join(msh)
        for i, segment in enumerate(segments):
            fields = segment.split(sep)
            if fields[0] == "EVN" and len(fields) > 1:
                fields[1] = "A08"
                segments[i] = sep.join(fields)
        return "\r".join(segments) + "\r"

    def edit(self, event: str, values: Mapping[str, str]) -> str:
        """The message of ``event`` with fields replaced: ``{'PID-11[1].3': 'Imilchil'}`` (HL7 locations).

        Values are written as given (no escaping). A location names a field, a repetition of it and
        optionally one component; the first segment of that name is changed unless ``SEG[n]`` says.

        Raises:
            StepError: a location is not a field location or names a segment the message lacks.
        """
        return edit_message(self(event), values, label=self._label)

    def mutated(self, event: str) -> str:
        """The message with the fixture's ``hl7v2.*`` mutations applied."""
        return str(self._broken(event)[0])

    def mutation_location(self, event: str) -> str:
        """Where the (last) ``hl7v2.*`` mutation broke the message, HL7 notation (``PID-3[1].1``)."""
        locations = self._broken(event)[1]
        if not locations:
            raise StepError(f"fixture {self._label!r} declares no hl7v2 mutation")
        return str(locations[-1])

    def _broken(self, event: str) -> tuple[Any, list[str]]:
        return apply_mutations(
            self(event), self._mutation_ids, "hl7v2", self._seed, f"fixture {self._label!r}"
        )

    def fits(self) -> bool:
        """Whether every ``hl7v2.*`` mutation of the fixture applies to one of the record's messages."""
        for mutation in _mutations(self._mutation_ids, "hl7v2"):
            if not any(_applies(mutation, text, self._seed) for _, text in self._messages()):
                return False
        return True


def _applies(mutation: Any, artefact: Any, seed: int) -> bool:
    from testbed.synthetic import mutations

    try:
        mutation.apply(artefact, random.Random(f"{seed}/{mutation.id}"))
    except mutations.NotApplicable:
        return False
    return True


def edit_message(text: str, values: Mapping[str, str], *, label: str = "fixture") -> str:
    """ER7 text with the fields at HL7 locations replaced (see :meth:`V2View.edit`)."""
    segments = [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if line]
    if not segments or not segments[0].startswith("MSH"):
        raise StepError(f"fixture {label!r}: not an HL7 v2 message")
    fs, cs, rs = segments[0][3], segments[0][4], segments[0][5]
    for location, value in values.items():
        match = _FIELD.match(location.strip())
        if match is None:
            raise StepError(f"fixture {label!r}: {location!r} is not a field location such as PID-11[1].3")
        seg, field = match["seg"], int(match["field"])
        wanted = int(match["occ"] or 1)
        indexes = [i for i, s in enumerate(segments) if s.split(fs, 1)[0] == seg]
        if len(indexes) < wanted:
            raise StepError(f"fixture {label!r}: the message has no {seg} number {wanted}")
        i = indexes[wanted - 1]
        fields = segments[i].split(fs)
        pos = field - 1 if seg == "MSH" else field
        fields += [""] * (pos + 1 - len(fields))
        reps = fields[pos].split(rs)
        rep = int(match["rep"] or 1)
        reps += [""] * (rep - len(reps))
        if match["comp"]:
            comps = reps[rep - 1].split(cs)
            comp = int(match["comp"])
            comps += [""] * (comp - len(comps))
            comps[comp - 1] = str(value)
            reps[rep - 1] = cs.join(comps)
        else:
            reps[rep - 1] = str(value)
        fields[pos] = rs.join(reps)
        segments[i] = fs.join(fields)
    return "\r".join(segments) + "\r"


class CdaView:
    """The CDA documents of a fixture's record (see the module docstring)."""

    def __init__(
        self,
        render: Callable[[Any], bytes],
        record: Any,
        resources: Callable[[str], list[dict[str, Any]]],
        *,
        label: str = "fixture",
    ) -> None:
        self._render = render
        self._record = record
        self._resources = resources
        self._label = label

    def _document(self, document: int | str) -> Any:
        docs = list(self._record.documents)
        if isinstance(document, int):
            if 0 <= document < len(docs):
                return docs[document]
        else:
            for doc in docs:
                if doc.type == document or doc.type == document.upper():
                    return doc
        raise StepError(
            f"fixture {self._label!r}: no document {document!r} "
            f"(the record has {', '.join(d.type for d in docs) or 'none'})"
        )

    def bytes(self, document: int | str = 0) -> bytes:
        """The CDA document (index or type code) as the UTF-8 bytes the renderer makes."""
        return self._render(self._document(document))

    def text(self, document: int | str = 0) -> str:
        """The CDA document (index or type code) as text."""
        return self.bytes(document).decode("utf-8")

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or not name.isalpha():
            raise AttributeError(name)
        return self.text(name)

    def index_with(self, *resource_types: str) -> int:
        """The index of the first document holding entries of every type given (``'Condition'`` …)."""
        wanted = [{r.get("id") for r in self._resources(t)} for t in resource_types]
        for n, doc in enumerate(self._record.documents):
            if all(ids & set(doc.entry_ids) for ids in wanted):
                return n
        raise StepError(
            f"fixture {self._label!r}: no document of the record holds entries of {', '.join(resource_types)}"
        )

    def entry_index(self, document: int | str, resource_type: str) -> int:
        """The position, among the record's ``resource_type`` resources, of the document's first one."""
        doc = self._document(document)
        for n, resource in enumerate(self._resources(resource_type)):
            if resource.get("id") in doc.entry_ids:
                return n
        raise StepError(f"fixture {self._label!r}: document {document!r} has no {resource_type} entry")

    def fits(self, mutations: Iterable[str], seed: int) -> bool:
        """Whether every ``cda.*`` mutation applies to the record's first document."""
        wanted = _mutations(mutations, "cda")
        if not wanted:
            return True
        if not self._record.documents:
            return False
        data = self.bytes(0)
        return all(_applies(m, data, seed) for m in wanted)
