r"""HL7 v2 escape sequences (v2.5 §2.7): decoding received text and encoding values to send.

Delimiters inside a value travel as ``\F\`` (field), ``\S\`` (component), ``\T\`` (subcomponent),
``\R\`` (repetition) and ``\E\`` (escape); ``\Xhh..\`` carries bytes in hexadecimal and ``\.br\``
a line break (formatted text). Highlighting (``\H\``, ``\N\``) and the other formatting commands
are dropped when decoding; character-set (``\C..\``, ``\M..\``) and local (``\Z..\``) sequences
cannot be interpreted and are kept as written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Encoding:
    """The delimiters of one message (MSH-1 and MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str | None = None

    @property
    def msh2(self) -> str:
        """The encoding characters as written in MSH-2."""
        return self.component + self.repetition + self.escape + self.subcomponent + (self.truncation or "")

    @property
    def delimiters(self) -> str:
        """Every character that must be escaped inside a value."""
        return self.field + self.component + self.repetition + self.escape + self.subcomponent


DEFAULT_ENCODING = Encoding()
"""The usual delimiters ``|^~\\&``."""

_FORMATTING_DROPPED = ("H", "N")


def escape(value: str, encoding: Encoding = DEFAULT_ENCODING) -> str:
    r"""Encode a value so that none of its characters is read as a delimiter.

    Line breaks become ``\.br\`` and a carriage return ``\X0D\`` (a bare CR would end the segment).
    """
    e = encoding
    if not any(ch in value for ch in e.delimiters) and "\r" not in value and "\n" not in value:
        return value
    esc = e.escape
    out = value.replace(esc, f"{esc}E{esc}")
    out = out.replace(e.field, f"{esc}F{esc}").replace(e.component, f"{esc}S{esc}")
    out = out.replace(e.subcomponent, f"{esc}T{esc}").replace(e.repetition, f"{esc}R{esc}")
    return (
        out.replace("\r\n", f"{esc}.br{esc}").replace("\n", f"{esc}.br{esc}").replace("\r", f"{esc}X0D{esc}")
    )


def unescape(value: str, encoding: Encoding = DEFAULT_ENCODING) -> str:
    """Decode the escape sequences of one leaf value (a component or subcomponent)."""
    esc = encoding.escape
    if esc not in value:
        return value
    parts: list[str] = []
    i, n = 0, len(value)
    while i < n:
        j = value.find(esc, i)
        if j < 0:
            parts.append(value[i:])
            break
        parts.append(value[i:j])
        k = value.find(esc, j + 1)
        if k < 0:  # an escape character that opens nothing: keep it as text
            parts.append(value[j:])
            break
        parts.append(_decode_sequence(value[j + 1 : k], encoding))
        i = k + 1
    return "".join(parts)


def _decode_sequence(body: str, e: Encoding) -> str:
    simple = {"F": e.field, "S": e.component, "T": e.subcomponent, "R": e.repetition, "E": e.escape}
    if body in simple:
        return simple[body]
    if body in _FORMATTING_DROPPED:
        return ""
    if body == ".br" or body.startswith(".sp"):
        return "\n"
    if body.startswith("X") and len(body) > 1:
        hexa = body[1:]
        try:
            raw = bytes.fromhex(hexa)
        except ValueError:
            return f"{e.escape}{body}{e.escape}"
        return raw.decode("utf-8", errors="replace")
    if body.startswith("."):  # other formatted-text commands (.in, .ti, .sk, .ce, .fi, .nf)
        return ""
    return f"{e.escape}{body}{e.escape}"
