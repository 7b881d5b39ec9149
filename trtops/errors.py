"""The one user-facing exception type of trtops."""

from __future__ import annotations


class TrtopsError(RuntimeError):
    """Raised when trtops cannot do what was asked: a library was not built, a TensorRT runtime is
    missing, or a kernel rejected its inputs. The message says what is missing or wrong and how to
    fix it. Invalid Python arguments raise ``ValueError``/``TypeError`` instead."""
