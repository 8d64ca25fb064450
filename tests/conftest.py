import torch

from optional_extras import EXTRAS, missing

torch.set_num_threads(1)


def pytest_report_header() -> list[str]:
    """Name each optional extra that is not installed, and what that leaves out."""
    effect = {"bench": "tests/bench and tests/cli are left out", "puzzlemix": "PuzzleMix tests skip",
              "search": "RegMix regressor tests skip",
              "hf": "Hugging Face Trainer and streaming tests skip", "lightning": "Lightning tests skip"}
    return [f"mixkit[{extra}] not installed ({', '.join(missing(extra))} missing): {effect[extra]}"
            for extra in EXTRAS if missing(extra)]
