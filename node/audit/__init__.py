"""The hash-chained audit log (service), row seals (seals: registered on import, so every
session of a process that writes through plansync seals what it writes) and the timeliness
audit."""

from node.audit import seals as seals  # noqa: F401  (registers the session listeners)
