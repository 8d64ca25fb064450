"""Real text domains with no download: Debian fortunes (English topics, de/es/it/ru), Python standard-library
source as a code domain, and user folders / JSONL files.

Every domain becomes a pair of ``uint8`` byte tensors (train, validation), split by *document* (a fortune, a
source file, a JSONL record) with a seeded shuffle, so no document is in both. A domain is cut into
fixed-length chunks of ``seq_len + 1`` bytes; the chunk count is the domain's size for
:class:`mixkit.domain.MixtureSampler`, and a chunk index is what the sampler yields.
"""

from __future__ import annotations

import json
import os
import random
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNE_LANGUAGES = ("de", "es", "it", "ru")
_SKIP_SUFFIXES = (".dat", ".u8")


class DataMissingError(FileNotFoundError):
    """Raised when a text domain's files are not on this machine; the message says how to get them."""


@dataclass(frozen=True)
class TextDomain:
    """One text domain as bytes.

    Attributes:
        name: domain name used as the sampler key.
        train: ``uint8`` tensor ``[n_train_bytes]``, training documents joined by newlines.
        val: ``uint8`` tensor ``[n_val_bytes]``, held-out documents joined by newlines.
        n_documents: documents read before the split.
    """

    name: str
    train: Tensor
    val: Tensor
    n_documents: int

    def __repr__(self) -> str:
        return (f"TextDomain(name={self.name!r}, train_bytes={self.train.numel()}, "
                f"val_bytes={self.val.numel()}, n_documents={self.n_documents})")

    def num_chunks(self, seq_len: int, split: str = "train") -> int:
        """Number of non-overlapping ``seq_len + 1``-byte chunks (inputs plus next-byte targets)."""
        data = self.train if split == "train" else self.val
        return max(0, (data.numel() - 1) // seq_len)


def _split_documents(name: str, docs: list[bytes], val_fraction: float, seed: int) -> TextDomain:
    docs = [d for d in docs if d.strip()]
    if len(docs) < 2:
        raise DataMissingError(f"domain {name!r}: found {len(docs)} non-empty documents, need at least 2")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    order = list(range(len(docs)))
    random.Random(f"{seed}:{name}").shuffle(order)
    n_val = max(1, int(round(len(docs) * val_fraction)))
    val_docs = [docs[i] for i in order[:n_val]]
    train_docs = [docs[i] for i in order[n_val:]]

    def to_tensor(parts: list[bytes]) -> Tensor:
        blob = b"\n".join(parts)
        return torch.frombuffer(bytearray(blob), dtype=torch.uint8).clone()

    return TextDomain(name=name, train=to_tensor(train_docs), val=to_tensor(val_docs), n_documents=len(docs))


def _cap(docs: Iterable[bytes], max_bytes: int | None) -> list[bytes]:
    out: list[bytes] = []
    total = 0
    for doc in docs:
        if max_bytes is not None and total >= max_bytes:
            break
        out.append(doc)
        total += len(doc) + 1
    return out


def parse_fortune_file(path: Path) -> list[bytes]:
    """Split a fortune file (records separated by lines holding a single ``%``) into records."""
    raw = path.read_bytes()
    records = raw.replace(b"\r\n", b"\n").split(b"\n%\n")
    return [r.strip(b"\n%") for r in records if r.strip(b"\n%").strip()]


def _fortune_files(folder: Path) -> list[Path]:
    files = []
    for p in sorted(folder.iterdir()):
        if p.suffix in _SKIP_SUFFIXES or p.name.endswith(_SKIP_SUFFIXES):
            continue
        if p.is_file() and p.stat().st_size > 0:
            files.append(p)
    return files


def _is_language_copy(path: Path) -> bool:
    """True for a top-level fortune file that is a copy of a language sub-folder's file of the same name.

    Debian's ``fortunes-it`` installs its files both in ``it/`` and at the top level (``italia``, ``leggi``,
    ``adams``, ...), so the top level alone is not English.
    """
    for lang in FORTUNE_LANGUAGES:
        twin = path.parent / lang / path.name
        if twin.is_file() and twin.stat().st_size == path.stat().st_size \
                and twin.read_bytes() == path.read_bytes():
            return True
    return False


def _missing_fortunes(where: Path) -> DataMissingError:
    return DataMissingError(
        f"fortune files not found at {where}. Install the Debian packages with `bash scripts/get-data.sh` "
        "(fortunes, fortunes-min, fortunes-de, fortunes-es, fortunes-it, fortunes-ru) or pass your own "
        "folders/JSONL files as domains."
    )


def load_fortunes(
    language: str = "en",
    root: Path | str = FORTUNES_DIR,
    val_fraction: float = 0.1,
    max_bytes: int | None = 2_000_000,
    seed: int = 0,
) -> TextDomain:
    """Fortunes of one language as a domain: ``"en"`` reads the top-level topic files (minus copies of the
    language sub-folders' files that some Debian packages also install there), ``"de"``, ``"es"``,
    ``"it"``, ``"ru"`` read that sub-folder. ``.dat``/``.u8`` index files are skipped; each ``%``-separated
    record is a document. ``max_bytes`` caps how much is read (``None`` reads all)."""
    root = Path(root)
    folder = root if language == "en" else root / language
    if language != "en" and language not in FORTUNE_LANGUAGES:
        raise ValueError(f"language must be 'en' or one of {FORTUNE_LANGUAGES}, got {language!r}")
    if not folder.is_dir():
        raise _missing_fortunes(folder)
    files = _fortune_files(folder)
    if language == "en":
        files = [f for f in files if not _is_language_copy(f)]
    if not files:
        raise _missing_fortunes(folder)
    docs: list[bytes] = []
    for f in files:
        docs.extend(parse_fortune_file(f))
    random.Random(f"{seed}:order:{language}").shuffle(docs)
    return _split_documents(language, _cap(docs, max_bytes), val_fraction, seed)


def load_python_stdlib(
    val_fraction: float = 0.1, max_bytes: int | None = 2_000_000, seed: int = 0, name: str = "code"
) -> TextDomain:
    """Python standard-library ``.py`` sources (``sysconfig.get_paths()["stdlib"]``, tests and
    site-packages excluded) as a code domain; each file is a document."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if not stdlib.is_dir():
        raise DataMissingError(f"Python standard library not found at {stdlib}")
    skip = {"site-packages", "dist-packages", "test", "tests", "__pycache__", "idle_test"}
    files = []
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        files.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py"))
    random.Random(f"{seed}:order:{name}").shuffle(files)
    docs = (p.read_bytes() for p in files)
    return _split_documents(name, _cap(docs, max_bytes), val_fraction, seed)


def load_text_folder(
    folder: Path | str,
    name: str | None = None,
    patterns: Sequence[str] = ("*.txt", "*.md"),
    val_fraction: float = 0.1,
    max_bytes: int | None = 2_000_000,
    seed: int = 0,
) -> TextDomain:
    """Every file matching ``patterns`` under ``folder`` (recursive) as one document each."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataMissingError(f"text folder {str(folder)!r} does not exist or is not a folder")
    files = sorted({p for pat in patterns for p in folder.rglob(pat) if p.is_file()})
    if not files:
        raise DataMissingError(f"text folder {str(folder)!r} holds no files matching {list(patterns)}")
    random.Random(f"{seed}:order:{folder}").shuffle(files)
    docs = (p.read_bytes() for p in files)
    return _split_documents(name or folder.name, _cap(docs, max_bytes), val_fraction, seed)


def load_jsonl(
    path: Path | str,
    name: str | None = None,
    text_key: str = "text",
    val_fraction: float = 0.1,
    max_bytes: int | None = 2_000_000,
    seed: int = 0,
) -> TextDomain:
    """A JSONL file whose records hold the document under ``text_key``."""
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"JSONL file {str(path)!r} does not exist")

    def records() -> Iterable[bytes]:
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                if text_key not in rec:
                    raise ValueError(f"{path}:{lineno}: record has no key {text_key!r} (text_key)")
                yield str(rec[text_key]).encode("utf-8")

    return _split_documents(name or path.stem, _cap(records(), max_bytes), val_fraction, seed)


class TextDomains:
    """A set of :class:`TextDomain` cut into ``seq_len + 1``-byte chunks.

    ``sizes()`` gives the chunk count per domain (the ``sizes`` argument of ``MixtureSampler``);
    ``gather(domain, indices)`` returns the ``int64`` chunk batch ``[len(indices), seq_len + 1]``.
    """

    def __init__(self, domains: Sequence[TextDomain], seq_len: int = 64):
        if not domains:
            raise ValueError("domains must hold at least one TextDomain")
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {seq_len!r}")
        names = [d.name for d in domains]
        if len(set(names)) != len(names):
            raise ValueError(f"domain names must be unique, got {names}")
        self.seq_len = int(seq_len)
        self.domains = {d.name: d for d in domains}
        self.offsets = torch.arange(self.seq_len + 1)
        for d in domains:
            if d.num_chunks(seq_len, "train") < 1 or d.num_chunks(seq_len, "val") < 1:
                raise ValueError(f"domain {d.name!r} is shorter than one chunk of {seq_len + 1} bytes")

    def __repr__(self) -> str:
        return f"TextDomains(names={self.names}, seq_len={self.seq_len})"

    @property
    def names(self) -> list[str]:
        """Domain names in the order used for sampler ids."""
        return list(self.domains)

    def sizes(self, split: str = "train") -> dict[str, int]:
        """Chunk count per domain."""
        return {n: d.num_chunks(self.seq_len, split) for n, d in self.domains.items()}

    def total_bytes(self) -> dict[str, int]:
        """Training bytes (= tokens) per domain, for token priors and repetition caps."""
        return {n: int(d.train.numel()) for n, d in self.domains.items()}

    def gather(self, domain: str, indices: Tensor, split: str = "train") -> Tensor:
        """``int64`` chunks ``[len(indices), seq_len + 1]`` of ``domain`` (vectorized gather)."""
        d = self.domains[domain]
        data = d.train if split == "train" else d.val
        starts = indices.to(torch.int64) * self.seq_len
        return data[starts[:, None] + self.offsets].long()

    def val_batch(self, domain: str, max_chunks: int, offset: int = 0) -> Tensor:
        """Validation chunks ``[offset, offset + max_chunks)`` of ``domain`` (a fixed set; clipped to what
        exists)."""
        total = self.domains[domain].num_chunks(self.seq_len, "val")
        start = min(offset, max(0, total - 1))
        stop = min(start + max_chunks, total)
        return self.gather(domain, torch.arange(start, stop), split="val")


def default_text_domains(
    languages: Sequence[str] = ("en", "de", "es", "it", "ru"),
    code: bool = True,
    max_bytes: int | None = 1_000_000,
    seed: int = 0,
) -> list[TextDomain]:
    """The built-in real domains: fortunes per language plus Python stdlib source."""
    out = [load_fortunes(lang, max_bytes=max_bytes, seed=seed) for lang in languages]
    if code:
        out.append(load_python_stdlib(max_bytes=max_bytes, seed=seed))
    return out
