"""Skip markers for the trainer integrations' optional extras."""

import importlib.util

import pytest

import optional_extras

# the packages each trainer integration imports (also declared as extras of mixkit)
INTEGRATION_EXTRAS = {"hf": ("datasets", "transformers", "accelerate"), "lightning": ("lightning",)}


def requires(extra: str) -> pytest.MarkDecorator:
    """Skip unless ``extra`` is installed (``optional_extras.needs`` once it lists the extra)."""
    if extra in optional_extras.EXTRAS:
        return optional_extras.needs(extra)
    gone = [m for m in INTEGRATION_EXTRAS[extra] if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(gone), reason=f"needs mixkit[{extra}] ({', '.join(gone)} missing)")
