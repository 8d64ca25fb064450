"""``mixkit bench`` and ``mixkit gallery``: the evidence for sample and domain mixing.

``mixkit bench`` (``--suite quick``, the default, or ``full``) trains the same image model with every sample
mixing method. The other suites run the benchmark's studies; options after ``--`` go to the suite::

    mixkit bench --suite text-domains [-- --steps 300 --proxy-steps 100]  # domain mixing on real text
    mixkit bench --suite calibration [-- --dataset fashion]              # RankMixup / MixUp calibration
    mixkit bench --suite regression [-- --quick]                         # C-Mixup, kNN mixup regression
    mixkit bench --suite label-aware [-- --part ood]                     # MixOE, SeqMix, decoupled, Mix3D
    mixkit bench --suite regmix-active                                   # active vs random RegMix search

``--results-page PATH`` writes the suite's table into that Markdown page (between its markers).
Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path
from typing import Any

from mixkit.bench.models import MODELS
from mixkit.bench.studies import STUDIES

from .checks import (
    Parser,
    UsageError,
    check_data_dir,
    check_device,
    check_out_dir,
    check_out_file,
    int_at_least,
    markdown_cell,
    nonneg_int,
    positive_float,
    positive_int,
    require_extra,
    seed_list,
    user_errors,
)
from .results_args import add_results_arguments, publish


def _subset(value: str) -> int | None:
    """A positive number of images, or ``all`` (``0`` is refused: it used to mean "all" silently)."""
    if value.strip().lower() == "all":
        return None
    try:
        return positive_int(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive number of images or 'all', got {value!r}") \
            from None


IMAGE_SUITES = ("quick", "standard", "full")
# study suites; each writes its table under its own name as the section key of the results page
STUDY_SUITES = ("text-domains", *STUDIES)


def add_commands(sub: Any) -> None:
    """Register ``bench`` and ``gallery`` on the top-level sub-parsers."""
    p = sub.add_parser("bench", help="train reference models with each mixing method and compare them",
                       description="Train the same model with every method (same optimizer, schedule, epochs "
                                   "and seeds; only the mixing differs) and write results/<dataset>/<time>/.")
    p.add_argument("--suite", choices=(*IMAGE_SUITES, *STUDY_SUITES), default="quick",
                   help=" / ".join(IMAGE_SUITES) + ": image classification with the sample mixers, with "
                        "defaults for the flags below (quick, the default: Fashion-MNIST subset, small CNN; "
                        "see docs/benchmark.md); " + ", ".join(STUDY_SUITES) + ": the studies, with their "
                        "own options after '--' (see 'mixkit bench --suite NAME -- --help')")
    p.add_argument("--dataset",
                   help="fashion-mnist (default), mnist, digits, cifar10, cifar100, folder:PATH, or "
                        "voice-prompts (log-mel spectrograms of the audio mixers)")
    p.add_argument("--data-dir", help="folder holding the dataset files (also: $MIXKIT_DATA)")
    p.add_argument("--methods", nargs="+", metavar="SPEC",
                   help="registry specs, e.g. none mixup:alpha=0.2 cutmix 'mixup|cutmix' "
                        "(default: every registered method that works with the model)")
    p.add_argument("--model", choices=MODELS,
                   help="reference model: " + ", ".join(MODELS) + " (suite default)")
    p.add_argument("--width", type=positive_int, help="model width (cnn / resnet) or embedding size (vit)")
    p.add_argument("--epochs", type=positive_int, help="training epochs of every run (suite default)")
    p.add_argument("--seeds", type=positive_int, help="number of seeds (0 .. N-1)")
    p.add_argument("--train-subset", type=_subset, default=argparse.SUPPRESS,
                   help="training images to use (a seeded subset) or 'all'")
    p.add_argument("--test-subset", type=_subset, default=argparse.SUPPRESS,
                   help="test images to use or 'all'")
    p.add_argument("--batch-size", type=positive_int, help="training batch size (suite default)")
    p.add_argument("--lr", type=positive_float, help="peak SGD learning rate (suite default)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop + flip for every method (quick suite: off)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, mps ...")
    p.add_argument("--amp", action="store_true", help="automatic mixed precision")
    p.add_argument("--workers", type=positive_int,
                   help="parallel processes for independent method x seed runs (default: cores; 1 on cuda)")
    p.add_argument("--out", default="results", help="output root (default: results)")
    p.add_argument("--force", action="store_true", help="re-run configurations that already have results")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per finished run)")
    add_results_arguments(p, "the suite's own: sample-quick, sample-full, or the study suite's name")
    p.add_argument("suite_args", nargs=argparse.REMAINDER, metavar="-- SUITE_OPTIONS",
                   help="options of a study suite, after '--'")
    p.set_defaults(func=run_bench)

    g = sub.add_parser("gallery", help="PNG grid of mixed samples for chosen methods on a chosen dataset",
                       description="Mix one batch of the dataset with each method and draw the mixed images "
                                   "(one row per method) into a PNG.")
    g.add_argument("--dataset", default="fashion-mnist",
                   help="fashion-mnist (default), mnist, digits, cifar10, cifar100, folder:PATH, or "
                        "voice-prompts (log-mel spectrograms of the audio mixers)")
    g.add_argument("--data-dir", help="folder holding the dataset files (also: $MIXKIT_DATA)")
    g.add_argument("--methods", nargs="+", metavar="SPEC",
                   help="registry specs, e.g. mixup cutmix:alpha=0.5 (default: every registered method)")
    g.add_argument("--model", default="cnn", choices=MODELS,
                   help="(untrained) model handed to model-aware methods (default cnn)")
    g.add_argument("--seed", type=nonneg_int, default=1234, help="seed of the mixing draws (default 1234)")
    g.add_argument("--out", default="gallery.png", help="PNG file to write (default gallery.png)")
    g.set_defaults(func=run_gallery)


def machine_description(device: str) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    desc = f"{os.cpu_count()} x {cpu}, torch {torch.__version__}"
    if device.startswith("cuda") and torch.cuda.is_available():
        desc += f", {torch.cuda.get_device_name(torch.device(device))}"
    return desc


def _resolve_dataset(args: argparse.Namespace):
    from mixkit.bench.data import DatasetNotFoundError, canonical_name, load_dataset

    explicit = args.dataset is not None
    name = canonical_name(args.dataset or "fashion-mnist")
    try:
        return name, load_dataset(name, args.data_dir)
    except DatasetNotFoundError as err:
        if explicit:
            raise
        print(f"mixkit bench: {err}\n\n-> Running the quick suite on scikit-learn's bundled 'digits' instead "
              "(8x8 images; results are far less informative).\n", file=sys.stderr)
        return "digits", load_dataset("digits")


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of ``mixkit bench``: an image suite, or a study suite with the options after ``--``."""
    suite_args = list(args.suite_args or [])
    if suite_args[:1] == ["--"]:
        suite_args = suite_args[1:]
    if args.suite not in STUDY_SUITES and suite_args:
        raise UsageError(f"unrecognized arguments: {' '.join(suite_args)} (the {args.suite} suite takes no "
                         "options after '--')")
    if args.results_page:
        check_out_file(args.results_page, "--results-page", (".md", ".markdown"))
    check_out_dir(args.out)
    if args.suite == "text-domains":
        require_extra("mixkit bench --suite text-domains", "search")
        return _run_study(args, suite_args)
    require_extra(f"mixkit bench --suite {args.suite}", "bench")
    if args.suite in STUDY_SUITES:
        return _run_study(args, suite_args)
    return _run_image_suite(args)


def _run_study(args: argparse.Namespace, suite_args: list[str]) -> int:
    if args.suite == "text-domains":
        code, search_table, train_table = run_text_domains(suite_args, Path(args.out) / "text-domains")
        if code == 0:
            publish(args, "text-domains", train_table)
            if not args.results_key:  # the search's table goes into its own section
                publish(args, "regmix-search", search_table)
        return code
    from mixkit.bench.studies import run_study

    code, table = run_study(args.suite, suite_args)
    if code == 0:
        publish(args, args.suite, table)
    return code


def text_domains_parser() -> argparse.ArgumentParser:
    """Options of ``mixkit bench --suite text-domains``: the workload, the search and the comparison."""
    from .workload_args import add_workload_arguments

    p = Parser(
        prog="mixkit bench --suite text-domains --",
        description="Domain mixing on real text (fortunes en/de/es/it/ru + Python stdlib): a RegMix search "
                    "('mixkit mixture search'), then every online method against uniform, proportional and "
                    "the recommended mixture at equal compute ('mixkit mixture train --method all').")
    add_workload_arguments(p, steps=300, steps_help="training steps of each compared run (default 300)")
    p.add_argument("--proxy-steps", type=positive_int, default=100,
                   help="steps per proxy run of the search (default 100)")
    p.add_argument("--initial", type=int_at_least(3), default=48,
                   help="random proxy runs the regressor is fitted on (default 48)")
    p.add_argument("--active", type=nonneg_int, default=0,
                   help="extra proxy runs chosen where the regressors disagree "
                        "(mixkit's own option; default 0)")
    p.add_argument("--holdout", type=int_at_least(3), default=12, help="held-out proxy runs (default 12)")
    p.add_argument("--batch", type=positive_int, default=8, help="proxy runs per active round (default 8)")
    p.add_argument("--method", default="all",
                   help="methods compared (default all; see 'mixkit mixture train')")
    p.add_argument("--seeds", type=seed_list, default=[0],
                   help="comma list of seeds of the comparison (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run_text_domains(argv: list[str], out: Path) -> tuple[int, str, str]:
    """``mixkit mixture search`` then ``mixkit mixture train --weights <recommended>`` under ``out``.

    Returns the exit code and the Markdown of the search's table and of the comparison's.
    """
    from . import build_parser, search_command, train_command

    a = text_domains_parser().parse_args(argv)
    workload = ["--max-bytes", str(a.max_bytes), "--target", a.target, "--batch-size", str(a.batch_size),
                "--seq-len", str(a.seq_len), "--d-model", str(a.d_model), "--layers", str(a.layers)]
    for spec in a.domain or []:
        workload += ["--domain", spec]
    if a.domains:
        workload += ["--domains", a.domains]
    if a.no_progress:
        workload += ["--no-progress"]
    parser = build_parser()
    search_args = parser.parse_args(
        ["mixture", "search", "--out", str(out), "--steps", str(a.proxy_steps), "--initial", str(a.initial),
         "--active", str(a.active), "--holdout", str(a.holdout), "--batch", str(a.batch), *workload])
    _, search_table = search_command.search(search_args)
    train_args = parser.parse_args(
        ["mixture", "train", "--method", a.method, "--weights", str(out / "latest-recommended.json"),
         "--steps", str(a.steps), "--seeds", ",".join(map(str, a.seeds)), "--out", str(out), *workload])
    _, train_table = train_command.train(train_args)
    return 0, search_table, train_table


def _run_image_suite(args: argparse.Namespace) -> int:

    from mixkit.bench.runner import load_gallery, run_all
    from mixkit.bench.sample_report import (
        aggregate,
        markdown_table,
        plot_curves,
        plot_final_bars,
        plot_gallery,
        plot_reliability,
        write_json,
    )
    from mixkit.bench.suites import default_methods, suite_settings
    from mixkit.bench.train import RunConfig, build_mixer, method_label

    check_device(args.device)
    check_data_dir(args.data_dir)
    if args.methods:  # a typo must fail now, not after minutes of training
        for m in args.methods:
            with user_errors(f"--methods {m!r}: "):
                build_mixer(m)
    with user_errors(f"--dataset {args.dataset or 'fashion-mnist'}: "):
        dataset, full_data = _resolve_dataset(args)
    with user_errors(f"--suite {args.suite}: "):
        s = suite_settings(args.suite, dataset)
    for k in ("model", "epochs", "seeds", "batch_size", "lr", "augment"):
        if getattr(args, k) is not None:
            s[k] = getattr(args, k)
    for k in ("train_subset", "test_subset"):
        if hasattr(args, k):  # given on the command line ('all' -> None)
            s[k] = getattr(args, k)
    model_kwargs = {"width": args.width} if args.width and s["model"] != "vit" else (
        {"dim": args.width} if args.width else {})
    with user_errors():
        data = full_data.subset(s["train_subset"], s["test_subset"], seed=0)
        if data.train_x.shape[0] == 0 or data.test_x.shape[0] == 0:
            raise ValueError(f"dataset {dataset} has {data.train_x.shape[0]} training and "
                             f"{data.test_x.shape[0]} test images; both must be non-empty")

    skipped: dict[str, str] = {}
    if args.methods:
        methods = list(args.methods)
    else:
        only = {"only": s["methods"]} if s.get("methods") is not None else {}  # the suite's method subset
        methods, skipped = default_methods(s["model"], data, model_kwargs, **only)
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}")
    labels = [method_label(m) for m in methods]
    if len(set(labels)) != len(labels):
        raise UsageError(f"--methods: methods must be distinct, got {labels}")
    with user_errors(f"--model {s['model']}: "):  # a model the data cannot feed fails now
        from mixkit.bench.models import build_model

        build_model(s["model"], data.in_channels, data.num_classes, data.image_size, **model_kwargs)

    workers = args.workers or (1 if args.device.startswith("cuda") else max(1, os.cpu_count() or 1))
    configs = [RunConfig(dataset=dataset, method=m, seed=seed, epochs=s["epochs"], model=s["model"],
                         model_kwargs=tuple(sorted(model_kwargs.items())), batch_size=s["batch_size"],
                         lr=s["lr"],
                         augment=s["augment"], train_subset=s["train_subset"], test_subset=s["test_subset"],
                         device=args.device, amp=args.amp, data_dir=args.data_dir)
               for m in methods for seed in range(s["seeds"])]
    out_root = Path(args.out)
    print(f"mixkit bench: {len(methods)} methods x {s['seeds']} seeds on {dataset} "
          f"({data.train_x.shape[0]} train / {data.test_x.shape[0]} test), model {s['model']}, "
          f"{s['epochs']} epochs, {workers} worker(s), device {args.device}")
    print("methods: " + " ".join(labels))

    from tqdm.auto import tqdm

    bar = tqdm(total=len(configs), desc="runs", unit="run", dynamic_ncols=True, disable=args.no_progress)

    finished = [0]

    def on_result(r: dict[str, Any]) -> None:
        tag = "cached" if r.get("cached") else r.get("status")
        top1 = r["metrics"]["top1"] * 100 if r.get("status") == "ok" else float("nan")
        bar.set_postfix_str(f"{r['method']} seed {r['seed']}: {tag} {top1:.2f}%")
        bar.update(1)
        finished[0] += 1
        if args.no_progress:
            print(f"run {finished[0]}/{len(configs)}: {r['method']} seed {r['seed']}: {tag} {top1:.2f}%",
                  flush=True)
        if r.get("status") == "failed":
            tqdm.write(f"FAILED {r['method']} seed {r['seed']}: {r.get('reason')}")

    def on_epoch(cfg: RunConfig, e: int, n: int, top1: float) -> None:
        bar.set_postfix_str(f"{method_label(cfg.method)} seed {cfg.seed}: epoch {e}/{n} "
                            f"top-1 {top1 * 100:.2f}%")

    results = run_all(configs, out_root / ".cache", workers=workers, force=args.force, on_result=on_result,
                      on_epoch=on_epoch)
    bar.close()

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = out_root / dataset.replace(":", "_").replace("/", "_") / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = aggregate(results, labels)
    for name, reason in skipped.items():
        rows.append({"method": name, "status": "skipped", "reason": reason})
    meta = {"dataset": dataset, "suite": args.suite, "model": s["model"], "model_kwargs": model_kwargs,
            "epochs": s["epochs"], "seeds": list(range(s["seeds"])), "train_size": int(data.train_x.shape[0]),
            "test_size": int(data.test_x.shape[0]), "batch_size": s["batch_size"], "lr": s["lr"],
            "augment": s["augment"], "device": args.device, "amp": args.amp, "workers": workers,
            "machine": machine_description(args.device), "created": stamp, "methods": labels,
            "command": " ".join(["mixkit", *sys.argv[1:]])}
    write_json(out_dir / "results.json", meta, rows, results)
    table = escape_method_cells(markdown_table(rows, meta), [r["method"] for r in rows])
    (out_dir / "table.md").write_text(table)
    plot_curves(results, labels, out_dir / "curves.png")
    plot_reliability(rows, results, out_dir / "reliability.png")
    plot_final_bars(rows, out_dir / "final.png")
    first_seed = {}
    for r in results:
        if r.get("status") == "ok" and r["method"] not in first_seed:
            first_seed[r["method"]] = r["key"]
    galleries = [(m, load_gallery(out_root / ".cache", first_seed[m])) for m in labels if m in first_seed]
    plot_gallery(galleries, out_dir / "gallery.png", data.class_names)
    print()
    print(table)
    print(f"wrote {out_dir}/ (results.json, table.md, curves.png, reliability.png, final.png, gallery.png)")
    publish(args, f"sample-{args.suite}", table)
    return 0 if any(r["status"] == "ok" for r in rows) else 1


def escape_method_cells(table: str, methods: list[str]) -> str:
    """Escape ``|`` in the method cell that starts a table row (RandomChoice specs such as ``mixup|cutmix``
    would otherwise split the cell); code spans and text outside the table keep the spec as written."""
    lines = table.split("\n")
    for m in sorted({m for m in methods if "|" in m}, key=len, reverse=True):
        cell = f"| {m} |"
        lines = [f"| {markdown_cell(m)} |" + ln[len(cell):] if ln.startswith(cell) else ln for ln in lines]
    return "\n".join(lines)


def run_gallery(args: argparse.Namespace) -> int:
    """Entry point of ``mixkit gallery``: one PNG grid of mixed samples per method."""
    import torch

    from mixkit.bench.data import load_dataset
    from mixkit.bench.models import build_model
    from mixkit.bench.sample_report import plot_gallery
    from mixkit.bench.train import (
        MethodUnsupported,
        build_mixer,
        check_supported,
        method_label,
        mixed_samples,
    )
    from mixkit.sample import registry

    require_extra("mixkit gallery", "bench")
    check_out_file(args.out, "--out", (".png",))
    check_data_dir(args.data_dir)
    if args.dataset == "voice-prompts":  # audio: spectrograms of the audio mixers
        from mixkit.bench.audio.gallery import GALLERY_METHODS, audio_gallery

        unknown = [m for m in args.methods or [] if m not in GALLERY_METHODS]
        if unknown:
            raise UsageError(f"--methods: {unknown} are not audio gallery methods; choose from "
                             f"{', '.join(GALLERY_METHODS)}")
        with user_errors(f"--dataset {args.dataset}: "):
            path = audio_gallery(args.out, args.data_dir, methods=tuple(args.methods or GALLERY_METHODS),
                                 seed=args.seed)
        print(f"wrote {path}")
        return 0
    for m in args.methods or []:
        with user_errors(f"--methods {m!r}: "):
            build_mixer(m)
    with user_errors(f"--dataset {args.dataset}: "):
        data = load_dataset(args.dataset, args.data_dir)
    methods = args.methods or [n for n in registry.names() if n != "none"]
    galleries = []
    for spec in methods:
        try:
            mixer = build_mixer(spec)
            torch.manual_seed(args.seed)
            model = build_model(args.model, data.in_channels, data.num_classes, data.image_size)
            check_supported(mixer, model)
            mixer.train()
            galleries.append((method_label(spec), mixed_samples(mixer, model, data, torch.device("cpu"),
                                                                seed=args.seed)))
        except MethodUnsupported as err:
            print(f"skipping {spec}: {err}")
    if not galleries:
        print("mixkit gallery: no method produced samples", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_gallery(galleries, out, data.class_names)
    print(f"wrote {out}")
    return 0
