"""Model readers and writers."""

from .nir import load

__all__ = ["load"]
