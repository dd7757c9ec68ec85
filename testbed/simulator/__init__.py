"""The reference SMR simulator: the embedded system under test and the SMR that client products talk to.

``start_smr(...)`` serves FHIR R4 (HTTPS, SMART Backend Services) and HL7 v2 over MLLP in background
threads and returns a :class:`RunningSMR`; ``testbed smr serve`` runs one from the command line. The
choices the framework leaves open are written down in the module docstrings of ``_identity``
(INS, duplicates, merges), ``_policy`` (right to object), ``_validation`` (profile choice),
``_search`` (paging) and ``_transaction`` (transactions).
"""

from __future__ import annotations

from testbed.simulator._server import BASE_PATH, FAULTS, RunningSMR, start_smr

__all__ = ["BASE_PATH", "FAULTS", "RunningSMR", "start_smr"]
