"""Temporary alias of :mod:`mixkit.sample.checks` (removed once every importer moved)."""
from .checks import *  # noqa: F403
from .checks import check_class_ids, check_inputs, check_labels, check_soft_labels, is_class_ids  # noqa: F401
