"""HL7 v2.5: ER7 parsing, MA message profiles, ACKs and MLLP transport.

```python
from testbed.hl7v2 import Hl7v2Validator, parse_message

msg = parse_message(er7)
msg.get("PID-3[2].1")
outcome = Hl7v2Validator.from_registry(registry).validate(er7, "adt.hl7")
```
"""

from testbed.hl7v2.escape import DEFAULT_ENCODING, Encoding, escape, unescape
from testbed.hl7v2.message import (
    Batch,
    Hl7v2ParseError,
    Location,
    Message,
    Segment,
    parse_batch,
    parse_location,
    parse_message,
)
from testbed.hl7v2.validator import Hl7v2Validator

__all__ = [
    "DEFAULT_ENCODING",
    "Batch",
    "Encoding",
    "Hl7v2ParseError",
    "Hl7v2Validator",
    "Location",
    "Message",
    "Segment",
    "escape",
    "parse_batch",
    "parse_location",
    "parse_message",
    "unescape",
]
