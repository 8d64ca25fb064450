"""Argument checks of the ``mixkit`` command line: every user error is found before any work starts and
reported as one line, ``mixkit: error: ...``, with exit code 2 and no traceback.

* :class:`UsageError` is what a command raises for a user error; :func:`mixkit.cli.main` prints it.
* :class:`Parser` is the ``argparse`` parser whose errors become :class:`UsageError` (one line instead of
  usage text + message).
* Number types for ``type=`` (:func:`positive_int`, :func:`fraction`, ...) refuse NaN, infinities and
  out-of-range values, naming what was expected; argparse names the option.
* :func:`check_device`, :func:`check_out_dir`, :func:`check_out_file`, :func:`check_data_dir`,
  :func:`require_extra` check the rest before a command starts; :func:`user_errors` turns the
  ``ValueError``/``TypeError``/``OSError`` a library raises while a command sets itself up into a
  :class:`UsageError`.
* :func:`remove_new_empty_dirs` takes away the folders a failed run created and left empty.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "EXTRAS",
    "Parser",
    "UsageError",
    "check_data_dir",
    "check_device",
    "check_out_dir",
    "check_out_file",
    "fraction",
    "markdown_cell",
    "missing_modules",
    "new_dirs",
    "nonneg_float",
    "nonneg_int",
    "positive_float",
    "positive_int",
    "remove_new_empty_dirs",
    "require_extra",
    "seed_list",
    "unit_interval",
    "user_errors",
]

# the modules each optional extra of pyproject.toml provides, as the commands import them
EXTRAS: dict[str, tuple[str, ...]] = {
    "bench": ("matplotlib", "PIL", "sklearn", "scipy", "tqdm"),
    "search": ("sklearn", "scipy", "threadpoolctl"),
    "plot": ("matplotlib", "PIL"),
}


class UsageError(Exception):
    """A user error of the command line: printed as one line ``mixkit: error: <message>``, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors raise :class:`UsageError` (one line, no usage block)."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


# ---- number types (argparse adds "argument --name:" in front of the message) ----

def _number(text: str, cast, what: str):
    try:
        if cast is int:
            value = float(text) if any(c in text.lower() for c in ".en") else int(text)
            if isinstance(value, float):
                if not math.isfinite(value) or value != int(value):
                    raise ValueError
                value = int(value)
        else:
            value = float(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what} (finite), got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (``1e6`` is accepted)."""
    n = _number(text, int, "a positive integer")
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def nonneg_int(text: str) -> int:
    """An integer >= 0."""
    n = _number(text, int, "an integer >= 0")
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return n


def positive_float(text: str) -> float:
    """A finite number > 0."""
    x = _number(text, float, "a positive number")
    if x <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return x


def nonneg_float(text: str) -> float:
    """A finite number >= 0."""
    x = _number(text, float, "a number >= 0")
    if x < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return x


def unit_interval(text: str) -> float:
    """A number in [0, 1]."""
    x = _number(text, float, "a number in [0, 1]")
    if not 0 <= x <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return x


def fraction(text: str) -> float:
    """A number in (0, 1]."""
    x = _number(text, float, "a number in (0, 1]")
    if not 0 < x <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return x


def seed_list(text: str) -> list[int]:
    """A comma list of distinct integer seeds >= 0: ``0,1,2``."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"expected a comma list of seeds, e.g. 0,1,2, got {text!r}")
    seeds = []
    for p in parts:
        try:
            seeds.append(nonneg_int(p))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected seeds >= 0, e.g. 0,1,2, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct, got {text!r}")
    return seeds


# ---- checks before a command starts ----

def check_device(text: str, option: str = "--device") -> str:
    """``text`` parses as a ``torch.device`` of a kind that trains here (cpu, cuda[:i], mps, xpu) and that
    device is available. Returns the string."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(f"{option} {text!r} is not a device; expected cpu, cuda, cuda:N, mps or xpu") \
            from None
    if device.type == "cpu":
        return text
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{option} {text}: torch {torch.__version__} sees no CUDA GPU; use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UsageError(f"{option} {text}: only {count} CUDA device(s) visible "
                             f"(cuda:0..cuda:{count - 1})")
        return text
    if device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UsageError(f"{option} {text}: MPS is not available in this torch build/machine")
        return text
    if device.type == "xpu":
        if not (hasattr(torch, "xpu") and torch.xpu.is_available()):
            raise UsageError(f"{option} {text}: no XPU device is available")
        return text
    raise UsageError(f"{option} {text!r}: device type {device.type!r} cannot train models here; "
                     "expected cpu, cuda, cuda:N, mps or xpu")


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and not p.is_symlink():
        if p.parent == p:
            break
        p = p.parent
    return p


def check_out_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` is a folder, or can be created as one, and is writable. Creates nothing."""
    p = Path(path)
    if str(path).strip() == "":
        raise UsageError(f"{option}: empty path")
    if p.exists():
        if not p.is_dir():
            raise UsageError(f"{option} {path}: exists and is not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: folder is not writable")
        return p
    base = _first_existing(p.absolute())
    if not base.is_dir():
        raise UsageError(f"{option} {path}: cannot create a folder under {base}, which is a file, "
                         "not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot create it, {base} is not writable")
    return p


def check_out_file(path: str | os.PathLike, option: str, suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` can be written as a file: not a folder, its folder exists or can be created and is writable;
    with ``suffixes``, its name ends in one of them. Creates nothing."""
    p = Path(path)
    if str(path).strip() == "" or p.name in ("", ".", ".."):
        raise UsageError(f"{option}: expected a file path, got {str(path)!r}")
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a folder; expected a file path")
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{option} {path}: expected a file name ending in {' or '.join(suffixes)}")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{option} {path}: file is not writable")
    check_out_dir(p.parent if str(p.parent) else Path("."), option=f"{option} {path}: folder")
    return p


def check_data_dir(path: str | None, option: str = "--data-dir") -> None:
    """When given, ``path`` is an existing folder."""
    if path is None:
        return
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{option} {path}: no such folder")
    if not p.is_dir():
        raise UsageError(f"{option} {path}: is a file, not a folder")


def missing_modules(extra: str) -> list[str]:
    """The modules of the optional extra ``extra`` that cannot be imported here."""
    gone = []
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            gone.append(module)
    return gone


def require_extra(what: str, extra: str) -> None:
    """Raise a :class:`UsageError` naming the extra to install when one of its modules is missing."""
    gone = missing_modules(extra)
    if gone:
        raise UsageError(f"{what} needs the '{extra}' extra ({', '.join(gone)} not installed): "
                         f"pip install 'mixkit[{extra}]'")


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    text = str(err)
    if isinstance(err, KeyError):
        return f"missing key {text}"
    return text if text else type(err).__name__


@contextlib.contextmanager
def user_errors(prefix: str = "") -> Iterator[None]:
    """Turn the ``ValueError``, ``TypeError``, ``KeyError``, ``OSError`` (missing or unreadable files, bad
    JSON) and truncated/corrupt archive errors (``EOFError``, ``zlib.error``, ``pickle.UnpicklingError``) a
    library raises inside the block into a one-line :class:`UsageError`. Use it around the
    set-up of a command only (reading files, building configurations), never around training: an error
    there is a bug and keeps its traceback."""
    try:
        yield
    except UsageError:
        raise
    except (ValueError, TypeError, KeyError, OSError, EOFError, pickle.UnpicklingError, zlib.error) as err:
        message = " ".join(_describe(err).split())  # one line
        raise UsageError(f"{prefix}{message}") from err


def new_dirs(path: str | os.PathLike) -> list[Path]:
    """The folders ``path`` and its ancestors that do not exist yet (deepest first)."""
    out = []
    p = Path(path).absolute()
    while not p.exists() and p.parent != p:
        out.append(p)
        p = p.parent
    return out


def remove_new_empty_dirs(created: list[Path]) -> None:
    """After a failed run: remove the folders of ``created`` (from :func:`new_dirs` before the run) that are
    now empty, and the empty folders inside them."""
    for top in reversed(created):  # the shallowest first: its whole empty subtree
        if top.is_dir():
            _remove_empty_tree(top)
    for d in created:  # then the chain from the deepest up, where still empty
        with contextlib.suppress(OSError):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()


def _remove_empty_tree(root: Path) -> None:
    for dirpath, _dirnames, _files in sorted(os.walk(root, topdown=False), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            if not os.listdir(dirpath):
                os.rmdir(dirpath)


def markdown_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: ``|`` escaped, line breaks as spaces."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def int_at_least(low: int):
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        n = _number(text, int, f"an integer >= {low}")
        if n < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return n

    parse.__name__ = f"integer >= {low}"
    return parse


def below_one(text: str) -> float:
    """A number in [0, 1)."""
    x = _number(text, float, "a number in [0, 1)")
    if not 0 <= x < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return x
