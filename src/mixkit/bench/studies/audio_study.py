"""Spoken-language identification on Debian's recorded voice prompts (``asterisk-core-sounds-*-wav``): a
small CNN on log-mel spectrograms trained with each audio mixer, accuracy over seeds with the paired
difference to no mixing. Run: ``mixkit bench --suite audio [-- --seeds 3 --data-dir DIR]``.

The data: ``apt-get install asterisk-core-sounds-{en,es,fr,it,ru}-wav`` (``scripts/get-data.sh audio``),
or any folder of ``<language>/**/*.wav``. One voice per language, so the task also rewards recognising the
speaker: read it as a small real audio task, not a language-ID benchmark."""

from __future__ import annotations

import argparse

from mixkit.bench.audio.study import AUDIO_METHODS, language_id_study

from .seed_table import seed_table


def main(argv: list[str] | None = None) -> str:
    """Run the study; prints and returns the Markdown table."""
    ap = argparse.ArgumentParser(prog="audio_study", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="folder of <language>/**/*.wav "
                    "(default /usr/share/asterisk/sounds)")
    ap.add_argument("--methods", nargs="+", default=list(AUDIO_METHODS), choices=AUDIO_METHODS,
                    help="audio mixers to train with (none = no mixing)")
    ap.add_argument("--epochs", type=int, default=8, help="training epochs per run")
    ap.add_argument("--max-per-language", type=int, default=250, help="files per language")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds")
    args = ap.parse_args(argv)
    rows = language_id_study(args.data_dir, tuple(args.methods), epochs=args.epochs,
                             max_per_language=args.max_per_language, seeds=tuple(range(args.seeds)))
    table = (f"Voice-prompt language ID, 5 languages, {args.max_per_language} files each, 1 s clips, "
             f"{args.epochs} epochs, {args.seeds} seeds; test accuracy.\n\n"
             + seed_table(rows, "accuracy", "none", digits=3))
    print(table)
    return table


if __name__ == "__main__":
    main()
