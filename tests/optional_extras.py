"""Which optional extras of mixkit are installed, for tests that need one (``pip install mixkit[NAME]``)."""

from __future__ import annotations

import importlib.util

import pytest

EXTRAS = {
    "bench": ("matplotlib", "PIL", "scipy", "sklearn", "tqdm"),
    "puzzlemix": ("maxflow",),
    "search": ("scipy", "sklearn"),
    "hf": ("datasets", "transformers", "accelerate"),
    "lightning": ("lightning",),
}


def missing(extra: str) -> list[str]:
    """The packages of ``extra`` that do not import here."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def needs(extra: str) -> pytest.MarkDecorator:
    """Mark a test (or a parameter) to be skipped, with the reason, unless ``extra`` is installed."""
    gone = missing(extra)
    return pytest.mark.skipif(bool(gone), reason=f"needs mixkit[{extra}] ({', '.join(gone)} missing)")


def skip_folder_without(extra: str, folder: str) -> tuple[list[str], str | None]:
    """For a folder's conftest: the globs to leave out and the line that says why (None when complete)."""
    gone = missing(extra)
    if not gone:
        return [], None
    return ["test_*.py"], f"{folder}: skipped, needs mixkit[{extra}] ({', '.join(gone)} missing)"
