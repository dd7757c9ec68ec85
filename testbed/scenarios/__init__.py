"""The scenario engine: scripted exchanges that test a product for each actor it declares.

Modules, from the data up:

- ``model`` (+ ``schema``, ``_yaml``, ``catalogue``): scenario files, checked when loaded.
- ``fixtures``, ``templating``: synthetic patients and the Jinja2 values of a step.
- ``transport``, ``auth``, ``exchange``, ``inbound``, ``trigger``: talking to the system under test,
  recording every exchange, reading what a client sent to the simulator, driving a client.
- ``steps``, ``checks``, ``checks_effects``, ``runner``: running one scenario.
- ``session``, ``embedded``, ``vendor``, ``selection``: a run (``testbed run``, the pytest plugin).
- ``record``, ``evidence``, ``replay``: the run record, the run folder and its digest, replays.
- ``plugin``: the pytest plugin (``pytest11`` entry point ``testbed.scenarios.plugin``).

Nothing is imported here, so that loading the pytest plugin stays cheap.
"""
