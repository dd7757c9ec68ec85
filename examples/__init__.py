"""Example programs that use the testbed (not part of the installed package)."""
