"""The jobfile: YAML read with line marks, checked key by key, and turned into specs.

Holds the loader, the per-key checks and the dataclasses they build. It may import the
engine, :mod:`schedctl.commands.spec` (a job's command spec) and :mod:`schedctl.alerts` (alert
specs); never the state, the service or the CLI. Inside, imports run one way: ``loader`` ->
``check`` (the whole file) -> ``jobcheck`` (one job) -> ``keys`` -> ``triggerkeys``,
``commandkeys``, ``alertkeys`` -> ``values``; ``specs`` (the frozen dataclasses) imports none.
"""
