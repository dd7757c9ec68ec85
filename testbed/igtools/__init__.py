"""Authoring tools for content packages: build from templated sources, check, pack."""

from testbed.igtools.build import BuildResult, IgSource, build_package, load_source

__all__ = ["BuildResult", "IgSource", "build_package", "load_source"]
