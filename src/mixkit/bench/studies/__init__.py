"""Benchmark studies: seeded, CPU-sized experiments behind the results page, each runnable as
``mixkit bench --suite NAME [-- OPTIONS]`` or ``python -m mixkit.bench.studies.<module>``.

``calibration`` (RankMixup, MixUp: NLL and ECE), ``regression`` (C-Mixup, kNN mixup: RMSE), ``label-aware``
(MixOE, SeqMix, decoupled mixup, Mix3D) and ``regmix-active`` (active vs random RegMix proposals on a known
mixing law) and ``domain-scenarios`` (noisy web, specialist and imbalanced domain mixtures on the byte GPT,
see :mod:`mixkit.bench.domain_scenarios`), ``selection`` (RS2 and EL2N/GraNd pruning: time to accuracy),
``flad`` (FLAD bandits: update cost and target loss), ``merging`` (the merging estimator's rank correlation
with real proxy runs), ``representation`` (MoCHi linear probe, Metrix Recall@1, SupReMix RMSE) and
``audio`` (voice-prompt language ID with the audio mixers). The text-domain suite (``text-domains``) is the
``mixkit mixture search`` + ``train`` pair.
"""

from __future__ import annotations

__all__ = ["STUDIES", "run_study"]

STUDIES = ("calibration", "regression", "label-aware", "regmix-active", "domain-scenarios", "selection",
           "flad", "merging", "representation", "audio")


def run_study(name: str, argv: list[str] | None = None) -> tuple[int, str]:
    """Run study ``name`` with command-line options ``argv``; returns the exit code and its Markdown table."""
    if name == "calibration":
        from .calibration_study import main
    elif name == "regression":
        from .regression_study import main
    elif name == "label-aware":
        from .label_aware_study import main
    elif name == "regmix-active":
        from .regmix_active_study import main
    elif name == "domain-scenarios":
        from ..domain_scenarios import main
    elif name == "selection":
        from .selection_study import main
    elif name == "flad":
        from .flad_study import main
    elif name == "merging":
        from .merging_study import main
    elif name == "representation":
        from .representation_study import main
    elif name == "audio":
        from .audio_study import main
    else:
        raise ValueError(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")
    return 0, main(argv)
