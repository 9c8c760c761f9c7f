"""Tessera's demo, Flask side: one of three servers (Flask, Express, C) on one session store."""
