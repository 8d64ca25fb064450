"""Reference workload for domain mixing: real multi-domain text, a byte-level GPT and one training
function that proxy runs (RegMix search) and online methods (DoReMi, ODM, Aioli, DGA, R&B) share."""

from mixkit.bench.text.byte_gpt import ByteGPT, ByteGPTConfig
from mixkit.bench.text.proxy import TextProxy
from mixkit.bench.text.text_domains import (
    DataMissingError,
    TextDomain,
    TextDomains,
    default_text_domains,
    load_fortunes,
    load_jsonl,
    load_python_stdlib,
    load_text_folder,
)
from mixkit.bench.text.text_sources import DEFAULT_SOURCES, load_source, load_sources
from mixkit.bench.text.workload import RunConfig, RunResult, train_mixture

__all__ = [
    "DEFAULT_SOURCES",
    "RunConfig",
    "RunResult",
    "TextProxy",
    "load_source",
    "load_sources",
    "train_mixture",
    "ByteGPT",
    "ByteGPTConfig",
    "DataMissingError",
    "TextDomain",
    "TextDomains",
    "default_text_domains",
    "load_fortunes",
    "load_jsonl",
    "load_python_stdlib",
    "load_text_folder",
]
