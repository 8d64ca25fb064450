"""The benchmark, the evidence for sample and domain mixing (``mixkit bench``): image datasets, reference
models and one training loop for the sample mixers; the reference text workload (``mixkit.bench.text``),
the mixture-search pipeline and the studies for domain mixing; metrics, reports and the results page.
The libraries (``mixkit.sample``, ``mixkit.domain``) never import it."""
