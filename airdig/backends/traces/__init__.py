"""Trace stores: the embedded SQLite store and the Tempo backend."""
