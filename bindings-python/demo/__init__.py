"""Tessera's demo: a small Flask site on the embedded memory store (``make demo``)."""
