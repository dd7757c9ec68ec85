"""Reading HL7 v2 ER7 text: messages, batches, delimiters from MSH-1/MSH-2, access by HL7 location.

A purpose-built parser (hl7apy parses ~50 messages/s, far too slow for load tests): segments are split
once, fields on demand, and values are decoded only when asked for. Any delimiters declared in MSH-1 and
MSH-2 are honoured, segment terminators may be CR, LF or CRLF, and FHS/BHS batches are read. Anything
that is not HL7 v2 raises :class:`Hl7v2ParseError` naming the line and column.

Locations use the HL7 notation, 1-based: ``PID-3[2].4.2`` is subcomponent 2 of component 4 of the
second repetition of PID-3; ``OBX[3]-5`` is OBX-5 of the third OBX segment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from testbed.hl7v2.charsets import Hl7v2ParseError, decode
from testbed.hl7v2.escape import DEFAULT_ENCODING, Encoding, unescape

__all__ = [
    "HEADER_SEGMENTS",
    "Batch",
    "Hl7v2ParseError",
    "Location",
    "Message",
    "Segment",
    "decode",
    "parse_batch",
    "parse_location",
    "parse_message",
]

_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
_LOCATION = re.compile(
    r"(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<occ>[1-9]\d*)\])?"
    r"(?:-(?P<field>[1-9]\d*)(?:\[(?P<rep>[1-9]\d*)\])?(?:\.(?P<comp>[1-9]\d*)(?:\.(?P<sub>[1-9]\d*))?)?)?"
)
_FRAMING = "\x0b\x1c"
HEADER_SEGMENTS = ("MSH", "FHS", "BHS")


@dataclass(frozen=True, slots=True)
class Location:
    """A position in a message in HL7 notation (all numbers 1-based; None = the whole level)."""

    segment: str
    occurrence: int = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def __str__(self) -> str:
        out = self.segment + (f"[{self.occurrence}]" if self.occurrence > 1 else "")
        if self.field is None:
            return out
        out += f"-{self.field}" + (f"[{self.repetition}]" if self.repetition else "")
        if self.component is not None:
            out += f".{self.component}"
            if self.subcomponent is not None:
                out += f".{self.subcomponent}"
        return out

    def erl(self) -> tuple[str, ...]:
        """The ERL components (ERR-2): segment, sequence, field, repetition, component, subcomponent."""
        parts = [self.segment, str(self.occurrence)]
        if self.field is not None:
            parts += [str(self.field), str(self.repetition or 1)]
            if self.component is not None:
                parts.append(str(self.component))
                if self.subcomponent is not None:
                    parts.append(str(self.subcomponent))
        return tuple(parts)


def parse_location(text: str) -> Location:
    """Read ``PID-3[2].4`` (or ``OBX[2]-5``) into a :class:`Location`.

    Raises:
        ValueError: the text is not an HL7 location.
    """
    m = _LOCATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not an HL7 v2 location (expected e.g. PID-3[2].4).")

    def num(key: str) -> int | None:
        v = m.group(key)
        return int(v) if v else None

    return Location(m["seg"], num("occ") or 1, num("field"), num("rep"), num("comp"), num("sub"))


class Segment:
    """One segment: ``fields[n]`` is the raw (escaped) text of field n; ``fields[0]`` is the name.

    For MSH (and FHS/BHS) ``fields[1]`` is the field separator and ``fields[2]`` the encoding characters,
    so that ``fields[n]`` is always SEG-n.
    """

    __slots__ = ("name", "fields", "line", "encoding")

    def __init__(self, name: str, fields: list[str], line: int, encoding: Encoding) -> None:
        self.name = name
        self.fields = fields
        self.line = line
        self.encoding = encoding

    def __repr__(self) -> str:
        return f"Segment({self.name!r}, line {self.line})"

    def raw(self, field: int) -> str:
        """The raw text of field ``field`` ('' when absent)."""
        f = self.fields
        return f[field] if field < len(f) else ""

    def repetitions(self, field: int) -> list[str]:
        """The raw repetitions of a field (an empty list when the field is empty)."""
        raw = self.raw(field)
        if not raw:
            return []
        if self.name in HEADER_SEGMENTS and field <= 2:
            return [raw]
        return raw.split(self.encoding.repetition)

    def value(self, field: int, repetition: int = 1, component: int = 1, subcomponent: int = 1) -> str:
        """The decoded leaf value at a position ('' when absent)."""
        reps = self.repetitions(field)
        if repetition > len(reps):
            return ""
        if self.name in HEADER_SEGMENTS and field <= 2:
            return reps[0]
        e = self.encoding
        comps = reps[repetition - 1].split(e.component)
        if component > len(comps):
            return ""
        subs = comps[component - 1].split(e.subcomponent)
        return unescape(subs[subcomponent - 1], e) if subcomponent <= len(subs) else ""

    def to_er7(self) -> str:
        """The segment as ER7 text (without terminator)."""
        if self.name in HEADER_SEGMENTS:
            return self.name + self.fields[1] + self.fields[1].join(self.fields[2:])
        return self.encoding.field.join(self.fields)


class Message:
    """A parsed HL7 v2 message: segments in order, delimiters, and access by location."""

    __slots__ = ("segments", "encoding", "charset", "_index")

    def __init__(self, segments: list[Segment], encoding: Encoding, charset: str = "") -> None:
        self.segments = segments
        self.encoding = encoding
        self.charset = charset
        self._index: dict[str, list[Segment]] | None = None

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    def __repr__(self) -> str:
        return f"Message({self.type_code!r}, {len(self.segments)} segments)"

    def named(self, name: str) -> list[Segment]:
        """Every segment with this name, in order."""
        index = self._index
        if index is None:
            index = {}
            for seg in self.segments:
                index.setdefault(seg.name, []).append(seg)
            self._index = index
        return index.get(name, [])

    def segment(self, name: str, occurrence: int = 1) -> Segment | None:
        """The n-th segment with this name, or None."""
        found = self.named(name)
        return found[occurrence - 1] if occurrence <= len(found) else None

    @property
    def header(self) -> Segment:
        """The MSH segment."""
        return self.segments[0]

    @property
    def type_code(self) -> str:
        """MSH-9 as ``CODE^TRIGGER`` (``ADT^A04``), or ``ACK`` for an acknowledgement without trigger."""
        h = self.header
        code, trigger = h.value(9, 1, 1), h.value(9, 1, 2)
        return f"{code}^{trigger}" if trigger else code

    @property
    def structure(self) -> str:
        """MSH-9.3, the message structure (``ADT_A01``), '' when not given."""
        return self.header.value(9, 1, 3)

    @property
    def control_id(self) -> str:
        """MSH-10."""
        return self.header.value(10)

    @property
    def version(self) -> str:
        """MSH-12.1."""
        return self.header.value(12)

    def get(self, location: str | Location, default: str = "") -> str:
        """The value at an HL7 location.

        A leaf (a component without subcomponents, a subcomponent, a simple field) is returned decoded; a
        position that still holds delimiters (a whole composite field) is returned as ER7 text. A location
        without repetition means the first one, except for a whole field (all repetitions).

        Raises:
            ValueError: the location is not written in HL7 notation.
        """
        loc = location if isinstance(location, Location) else parse_location(location)
        seg = self.segment(loc.segment, loc.occurrence)
        if seg is None:
            return default
        if loc.field is None:
            return seg.to_er7()
        e = self.encoding
        raw = seg.raw(loc.field)
        if not raw:
            return default
        if seg.name in HEADER_SEGMENTS and loc.field <= 2:
            return raw
        if loc.repetition is None and loc.component is None:
            return _leaf_or_raw(raw, e, e.repetition + e.component + e.subcomponent)
        reps = raw.split(e.repetition)
        r = loc.repetition or 1
        if r > len(reps):
            return default
        rep = reps[r - 1]
        if loc.component is None:
            return _leaf_or_raw(rep, e, e.component + e.subcomponent)
        comps = rep.split(e.component)
        if loc.component > len(comps):
            return default
        comp = comps[loc.component - 1]
        if loc.subcomponent is None:
            return _leaf_or_raw(comp, e, e.subcomponent)
        subs = comp.split(e.subcomponent)
        return unescape(subs[loc.subcomponent - 1], e) if loc.subcomponent <= len(subs) else default

    def to_er7(self, terminator: str = "\r") -> str:
        """The message as ER7 text, each segment followed by ``terminator``."""
        return "".join(s.to_er7() + terminator for s in self.segments)


@dataclass(slots=True)
class Batch:
    """An HL7 batch: optional FHS/BHS headers and BTS/FTS trailers around messages."""

    messages: list[Message]
    headers: list[Segment]
    trailers: list[Segment]


def _leaf_or_raw(text: str, e: Encoding, inner: str) -> str:
    return text if any(ch in text for ch in inner) else unescape(text, e)


def _lines(text: str) -> list[tuple[int, str]]:
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.strip(_FRAMING + " \t\r\n")
    if "\x00" in text:
        k = text.index("\x00")
        raise Hl7v2ParseError(
            "a NUL character: this is binary data, not HL7 v2 text.", line=text.count("\r", 0, k) + 1
        )
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    return [(n, line) for n, line in enumerate(text.split("\r"), start=1) if line]


def _encoding_of(line: str, n: int) -> Encoding:
    if len(line) < 8:
        raise Hl7v2ParseError(f"the {line[:3]} segment is too short to declare its delimiters.", line=n)
    fs = line[3]
    if fs.isalnum() or fs in " \t":
        raise Hl7v2ParseError(
            f"{line[:3]}-1 (field separator) is {fs!r}; it must be a punctuation character such as '|'.",
            line=n,
            column=4,
        )
    end = line.find(fs, 4)
    chars = line[4:] if end < 0 else line[4:end]
    if len(chars) not in (4, 5):
        raise Hl7v2ParseError(
            f"{line[:3]}-2 (encoding characters) is {chars!r}; it must hold 4 characters "
            "(component, repetition, escape, subcomponent), such as '^~\\&'.",
            line=n,
            column=5,
        )
    if len(set(chars + fs)) != len(chars) + 1 or any(c.isalnum() or c in " \t" for c in chars):
        raise Hl7v2ParseError(
            f"{line[:3]}-2 (encoding characters) {chars!r} repeats a delimiter or uses a letter, digit "
            "or space.",
            line=n,
            column=5,
        )
    return Encoding(fs, chars[0], chars[1], chars[2], chars[3], chars[4] if len(chars) == 5 else None)


def _segment(line: str, n: int, e: Encoding) -> Segment:
    name = line[:3]
    if _SEGMENT_NAME.fullmatch(name) is None or (len(line) > 3 and line[3] != e.field):
        shown = line[:20] + ("…" if len(line) > 20 else "")
        raise Hl7v2ParseError(
            f"{shown!r} is not an HL7 segment: a segment starts with a 3-character name "
            f"(capital letter, then capitals or digits) followed by the field separator {e.field!r}.",
            line=n,
        )
    if name in HEADER_SEGMENTS:
        rest = line[4:].split(e.field)
        return Segment(name, [name, e.field, *rest], n, e)
    return Segment(name, line.split(e.field), n, e)


def _as_text(data: str | bytes) -> tuple[str, str]:
    if isinstance(data, bytes | bytearray | memoryview):
        return decode(bytes(data))
    return data, ""


def parse_message(data: str | bytes) -> Message:
    """Parse one message (bytes are decoded with the MSH-18 character set, UTF-8 by default).

    Raises:
        Hl7v2ParseError: not HL7 v2, or a batch of several messages (use :func:`parse_batch`).
    """
    text, charset = _as_text(data)
    lines = _lines(text)
    if not lines:
        raise Hl7v2ParseError("the input is empty: an HL7 v2 message starts with an MSH segment.")
    first_n, first = lines[0]
    if not first.startswith("MSH"):
        if first[:3] in ("FHS", "BHS"):
            batch = parse_batch(text)
            if len(batch.messages) == 1:
                return batch.messages[0]
            raise Hl7v2ParseError(
                f"this is a batch of {len(batch.messages)} messages; read it with parse_batch().",
                line=first_n,
            )
        shown = first[:20] + ("…" if len(first) > 20 else "")
        raise Hl7v2ParseError(
            f"the input starts with {shown!r}; an HL7 v2 message starts with an MSH segment.",
            line=first_n,
            column=1,
        )
    msg = _build(lines, charset)
    if len(msg) != len(lines):
        raise Hl7v2ParseError(
            "the input holds several messages; read it with parse_batch().", line=lines[len(msg)][0]
        )
    return msg


def _build(lines: list[tuple[int, str]], charset: str) -> Message:
    """One message from ``lines`` (starting at MSH), stopping before the next MSH or batch segment."""
    n0, head = lines[0]
    e = _encoding_of(head, n0)
    segments = [_segment(head, n0, e)]
    for n, line in lines[1:]:
        if line[:3] in ("MSH", "BHS", "BTS", "FHS", "FTS"):
            break
        segments.append(_segment(line, n, e))
    if not charset:
        charset = segments[0].value(18)
    return Message(segments, e, charset)


def parse_batch(data: str | bytes) -> Batch:
    """Parse a batch file (FHS/BHS … MSH … BTS/FTS) or a plain run of messages.

    Raises:
        Hl7v2ParseError: not HL7 v2, or a segment outside any message.
    """
    text, charset = _as_text(data)
    lines = _lines(text)
    if not lines:
        raise Hl7v2ParseError("the input is empty: an HL7 v2 batch starts with FHS, BHS or MSH.")
    headers: list[Segment] = []
    trailers: list[Segment] = []
    messages: list[Message] = []
    e = DEFAULT_ENCODING
    i = 0
    while i < len(lines):
        n, line = lines[i]
        name = line[:3]
        if name in ("FHS", "BHS"):
            e = _encoding_of(line, n)
            headers.append(_segment(line, n, e))
            i += 1
        elif name in ("BTS", "FTS"):
            trailers.append(_segment(line, n, e))
            i += 1
        elif name == "MSH":
            msg = _build(lines[i:], charset)
            messages.append(msg)
            i += len(msg)
        else:
            _segment(line, n, e)  # raises on garbage with a precise message
            raise Hl7v2ParseError(f"the segment {name} is outside any message (no MSH before it).", line=n)
    if not messages and not headers:
        raise Hl7v2ParseError("no MSH segment: this is not an HL7 v2 message or batch.", line=lines[0][0])
    return Batch(messages, headers, trailers)
