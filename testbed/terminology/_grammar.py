"""Code systems defined by a grammar, checked natively: BCP-47 language tags and BCP-13 media types.

Each checker answers True (valid), False (malformed, or a subtag that certainly does not exist) or
None (well-formed but holding a part the testbed cannot look up offline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from testbed.terminology._iso import COMMON_SCRIPTS, ISO_639_1, ISO_3166_ALPHA2


@dataclass(frozen=True, slots=True)
class GrammarResult:
    """The verdict of a grammar-based check."""

    valid: bool | None
    message: str


# RFC 5646 §2.1 "langtag" (the private-use and grandfathered forms are handled apart).
_LANGTAG = re.compile(
    r"""^(?P<language>[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})
        (?:-(?P<script>[a-z]{4}))?
        (?:-(?P<region>[a-z]{2}|[0-9]{3}))?
        (?P<variants>(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*)
        (?P<extensions>(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*)
        (?:-(?P<private>x(?:-[a-z0-9]{1,8})+))?$""",
    re.VERBOSE,
)
_PRIVATE = re.compile(r"^x(?:-[a-z0-9]{1,8})+$")
_GRANDFATHERED = frozenset(
    """
    en-gb-oed i-ami i-bnn i-default i-enochian i-hak i-klingon i-lux i-mingo i-navajo i-pwn i-tao i-tay
    i-tsu sgn-be-fr sgn-be-nl sgn-ch-de art-lojban cel-gaulish no-bok no-nyn zh-guoyu zh-hakka zh-min
    zh-min-nan zh-xiang
    """.split()
)


@lru_cache(maxsize=4096)
def check_language_tag(tag: str) -> GrammarResult:
    """Check a BCP-47 (RFC 5646) language tag: full syntax, ISO 639-1 languages, ISO 3166 regions.

    Tags are case-insensitive. A three-letter language, a variant or an extension is well-formed but
    not checkable offline (None).
    """
    low = tag.lower()
    if low in _GRANDFATHERED or _PRIVATE.match(low):
        return GrammarResult(True, f"'{tag}' is a valid BCP-47 language tag (grandfathered or private use).")
    m = _LANGTAG.match(low)
    if m is None:
        return GrammarResult(
            False,
            f"'{tag}' is not a well-formed BCP-47 language tag (RFC 5646): expected "
            "language[-Script][-REGION][-variant]... such as 'fr' or 'ar-MA'.",
        )
    variants = [v for v in m["variants"].split("-") if v]
    if len(set(variants)) != len(variants):
        return GrammarResult(False, f"'{tag}' repeats a variant subtag, which RFC 5646 forbids.")
    singletons = re.findall(r"-([0-9a-wy-z])(?=-)", "-" + m["extensions"]) if m["extensions"] else []
    if len(set(singletons)) != len(singletons):
        return GrammarResult(False, f"'{tag}' repeats an extension singleton, which RFC 5646 forbids.")
    language, *extlangs = m["language"].split("-")
    unsure: list[str] = []
    if len(language) == 2:
        if language not in ISO_639_1:
            return GrammarResult(
                False,
                f"'{tag}': '{language}' is not an ISO 639-1 language code, so it is "
                "not a registered two-letter BCP-47 language subtag.",
            )
    else:
        unsure.append(language)
    unsure.extend(extlangs)
    script = m["script"]
    if script and script.title() not in COMMON_SCRIPTS:
        unsure.append(script.title())
    region = m["region"]
    if region and region.upper() not in ISO_3166_ALPHA2:
        unsure.append(region.upper())
    unsure.extend(variants)
    if m["extensions"]:
        unsure.append(m["extensions"].lstrip("-"))
    if unsure:
        parts = ", ".join(f"'{u}'" for u in unsure)
        return GrammarResult(
            None,
            f"'{tag}' is a well-formed BCP-47 language tag, but the subtag(s) {parts} "
            "cannot be checked offline (the IANA subtag registry is not shipped).",
        )
    return GrammarResult(True, f"'{tag}' is a valid BCP-47 language tag.")


_TOP_LEVEL_TYPES = frozenset(
    "application audio example font haptics image message model multipart text video".split()
)
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MIME = re.compile(
    rf"""^(?P<type>{_RESTRICTED_NAME})/(?P<subtype>{_RESTRICTED_NAME})
        (?P<params>(?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|"(?:[^"\\]|\\.)*"))*)\s*;?\s*$""",
    re.VERBOSE,
)


@lru_cache(maxsize=4096)
def check_media_type(value: str) -> GrammarResult:
    """Check a BCP-13 (RFC 6838 / RFC 2045) media type such as ``text/plain; charset=UTF-8``.

    The syntax and the top-level type are checked; subtypes are not (the IANA registry is not
    shipped, and vendor and personal trees are open), so a well-formed type with a registered
    top-level type is valid. An unknown top-level type gives None.
    """
    m = _MIME.match(value)
    if m is None:
        return GrammarResult(
            False,
            f"'{value}' is not a well-formed media type (BCP-13): expected "
            "type/subtype[; parameter=value], such as 'application/pdf'.",
        )
    top = m["type"].lower()
    if top not in _TOP_LEVEL_TYPES:
        return GrammarResult(
            None,
            f"'{value}' is a well-formed media type but its top-level type '{top}' is "
            "not one the testbed knows; it cannot be checked offline.",
        )
    return GrammarResult(
        True, f"'{value}' is a well-formed media type with the registered top-level type '{top}'."
    )
