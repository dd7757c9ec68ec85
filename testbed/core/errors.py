"""The testbed's exception hierarchy.

::

    TestbedError                 anything the testbed itself reports as a clean error
    ├── UsageError               a bad command line, option or argument
    ├── InputError               an input (file, message) that cannot be read at all
    ├── PackageError             a FHIR package, folder or conformance resource that cannot be loaded
    │   └── ProfileError         a StructureDefinition that cannot be used (no base, broken snapshot)
    └── TerminologyError         a ValueSet or CodeSystem that cannot be used

``ConformanceFailure`` is apart: it is raised when the system under test is wrong, never when
the testbed is.
"""

from __future__ import annotations


class TestbedError(Exception):
    """Base of every error the testbed reports without a traceback."""

    __test__ = False  # not a pytest test class


class UsageError(TestbedError):
    """A command line, option or argument is wrong."""


class InputError(TestbedError):
    """An input cannot be read (missing, unreadable, not the expected format)."""


class PackageError(TestbedError):
    """A FHIR package, folder or conformance resource cannot be loaded."""


class ProfileError(PackageError):
    """A StructureDefinition cannot be used to validate."""


class TerminologyError(TestbedError):
    """A ValueSet or CodeSystem cannot be used."""


class ConformanceFailure(AssertionError):
    """The system under test does not conform (a *fail*, not an *error*)."""
