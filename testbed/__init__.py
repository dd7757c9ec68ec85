"""testbed: interoperability conformance testbed for Morocco's Shared Medical Record."""

__version__ = "0.1.0"
