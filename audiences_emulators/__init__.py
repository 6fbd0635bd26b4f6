"""Local HTTP emulators of the destination APIs (HubSpot, Braze, Meta, Google, Marketo) for
tests, benchmarks and the sandbox, on werkzeug (:mod:`audiences_emulators.base`).

A separate package from the sync engine: nothing in ``reverse_etl`` imports it (the sandbox
starts the emulators as child processes, ``python -m audiences_emulators.<name>``). See
docs/sandbox.md and docs/decisions/0007-emulators-as-their-own-package-on-werkzeug.md.
"""
