"""Seams for tests: fault injection (search/testing/faults.py). Inert unless SLIMTUNE_FAULTS is set."""
