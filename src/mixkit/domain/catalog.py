"""Every domain-level method, one row each (what ``mixkit list`` prints): name, the object implementing it,
paper, paper URL, the authors' release (``repository: file``, empty when there is none) and its keyword
defaults (read from the signature)."""

from __future__ import annotations

from mixkit.domain.online import DGA, ODM, Aioli, DoReMi, RnB
from mixkit.domain.schedules import Cooldown, EndUpsample
from mixkit.domain.search.regmix import RegMixSearch
from mixkit.domain.selection.catalog import SELECTION_METHODS, SelectionMethod
from mixkit.domain.strategies import unimax

DomainMethod = SelectionMethod

_ONLINE_AND_SEARCH: tuple[DomainMethod, ...] = (
    DomainMethod("unimax", unimax, "UniMax: Fairer and More Effective Language Sampling for Large-Scale "
                 "Multilingual Pretraining (ICLR 2023)", "https://arxiv.org/abs/2304.09151", ""),
    DomainMethod("end-upsample", EndUpsample, "Does Your Data Spark Joy? Performance Gains from Domain "
                 "Upsampling at the End of Training (2024)", "https://arxiv.org/abs/2406.03476", ""),
    DomainMethod("cooldown", Cooldown, "Upsample or Upweight? Balanced Training on Heavily Imbalanced "
                 "Datasets (NAACL 2025)", "https://arxiv.org/abs/2410.04579", ""),
    DomainMethod("regmix", RegMixSearch, "RegMix: Data Mixture as Regression for Language Model Pre-training "
                 "(ICLR 2025)", "https://arxiv.org/abs/2407.01492",
                 "sail-sg/regmix: mixture_config/synthesize_mixture.py, regression_fitting/regression.ipynb"),
    DomainMethod("doremi", DoReMi, "DoReMi: Optimizing Data Mixtures Speeds Up Language Model Pretraining "
                 "(NeurIPS 2023)", "https://arxiv.org/abs/2305.10429",
                 "sangmichaelxie/doremi: doremi/trainer.py"),
    DomainMethod("odm", ODM, "Efficient Online Data Mixing For Language Model Pre-Training (2023)",
                 "https://arxiv.org/abs/2312.02406",
                 "alon-albalak/online-data-mixing: megatron/data/data_sampling_utils.py"),
    DomainMethod("aioli", Aioli, "Aioli: A Unified Optimization Framework for Language Model Data Mixing "
                 "(ICLR 2025)", "https://arxiv.org/abs/2411.05735",
                 "HazyResearch/aioli: trainer/aioli_trainer.py"),
    DomainMethod("dga", DGA, "Dynamic Gradient Alignment for Online Data Mixing (2024)",
                 "https://arxiv.org/abs/2410.02498", ""),
    DomainMethod("rnb", RnB, "R&B: Domain Regrouping and Data Mixture Balancing for Efficient Foundation "
                 "Model Training (2025)", "https://arxiv.org/abs/2505.00358", ""),
)

#: static rules with a paper, schedules, search, online methods, then selection, bandits, balancing, merging
DOMAIN_METHODS: tuple[DomainMethod, ...] = _ONLINE_AND_SEARCH + SELECTION_METHODS

__all__ = ["DOMAIN_METHODS", "DomainMethod"]
