"""AirDig: one graph of a cloud estate that answers what changed, who changed it, and what it broke."""

from __future__ import annotations

__version__ = "0.1.0"
