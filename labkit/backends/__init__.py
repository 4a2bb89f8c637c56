"""Backends: the same Lab API on the local mesh or on a real cluster."""
