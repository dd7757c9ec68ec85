"""Compact, byte-stable JSON text for the synthetic writers (the C encoder, reused, no circularity check)."""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any


def _make() -> Callable[[Any], str]:
    fallback = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:  # pragma: no cover - CPython has the C encoder
        return fallback
    default = json.JSONEncoder().default  # raises TypeError for anything JSON cannot hold
    # The arguments JSONEncoder.iterencode passes for one-shot encoding; built once instead of per call.
    iterencode = make_encoder(
        None, default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return encode


dumps: Callable[[Any], str] = _make()
"""``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` for plain JSON values."""
