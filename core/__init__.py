"""Shared kernel: canonical records, token semantics, pricing, settings, errors. Imports none of ours."""
