"""The in-process, offline terminology service: CodeSystems, ValueSets, UCUM, language tags, media types.

``TerminologyService(resolver)`` checks codes against value sets and code systems found through a
:class:`~testbed.core.resolver.CanonicalResolver`, expands value sets and looks codes up. Each check
answers a :class:`CodeCheck` whose ``valid`` is True, False, or None when the code cannot be checked
offline (never a silent pass, never a false error).
"""

from testbed.terminology._check import CodeCheck
from testbed.terminology._codesystem import CodeSystemIndex, Concept
from testbed.terminology._external import KNOWN_EXTERNAL, ExternalSystem
from testbed.terminology._grammar import GrammarResult, check_language_tag, check_media_type
from testbed.terminology._service import TerminologyService
from testbed.terminology._ucum import UcumResult, check_ucum

__all__ = [
    "KNOWN_EXTERNAL",
    "CodeCheck",
    "CodeSystemIndex",
    "Concept",
    "ExternalSystem",
    "GrammarResult",
    "TerminologyService",
    "UcumResult",
    "check_language_tag",
    "check_media_type",
    "check_ucum",
]
