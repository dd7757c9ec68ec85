"""Decoding HL7 v2 bytes with the character set MSH-18 declares (UTF-8 when it declares none)."""

from __future__ import annotations

from testbed.core.errors import InputError


class Hl7v2ParseError(InputError):
    """The input is not readable as HL7 v2 ER7; ``line`` and ``column`` (1-based) say where."""

    def __init__(self, message: str, *, line: int = 0, column: int = 0) -> None:
        where = f"line {line}" + (f", column {column}" if column else "") if line else ""
        super().__init__(f"{where}: {message}" if where else message)
        self.line = line
        self.column = column
        self.reason = message


_CHARSETS = {
    "": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
}


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes with the character set MSH-18 declares (UTF-8 when none): (text, charset name).

    Raises:
        Hl7v2ParseError: the bytes are not valid in that character set.
    """
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    charset = _declared_charset(body)
    codec = _CHARSETS.get(charset.upper(), "utf-8")
    try:
        return body.decode(codec), charset
    except UnicodeDecodeError as exc:
        line = body.count(b"\r", 0, exc.start) + 1 if b"\r" in body else body.count(b"\n", 0, exc.start) + 1
        raise Hl7v2ParseError(
            f"byte {exc.start} (0x{body[exc.start]:02X}) is not valid {codec.upper()}"
            f"{f' (MSH-18 declares {charset!r})' if charset else ' (no MSH-18: UTF-8 assumed)'}.",
            line=line,
        ) from None


def _declared_charset(body: bytes) -> str:
    start = body.find(b"MSH")
    if start < 0 or len(body) < start + 8:
        return ""
    end = len(body)
    for term in (b"\r", b"\n"):
        k = body.find(term, start)
        if 0 <= k < end:
            end = k
    header = body[start:end].decode("latin-1")
    if len(header) < 8:
        return ""
    fs = header[3]
    fields = header.split(fs)
    if len(fields) <= 17:
        return ""
    enc = fields[1]
    first = fields[17]
    for sep in enc[:2]:
        first = first.split(sep)[0]
    return first.strip()
