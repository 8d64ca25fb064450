"""``python -m mixkit.bench.audio [--data-dir DIR] [--methods ...]``: the voice-prompt language-ID study."""

from __future__ import annotations

import argparse
import json

from .study import AUDIO_METHODS, language_id_study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mixkit.bench.audio", description=__doc__)
    parser.add_argument("--data-dir", default=None, help="folder of <language>/**/*.wav "
                        "(default /usr/share/asterisk/sounds)")
    parser.add_argument("--methods", nargs="+", default=list(AUDIO_METHODS), choices=AUDIO_METHODS)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--max-per-language", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = language_id_study(args.data_dir, tuple(args.methods), epochs=args.epochs,
                             max_per_language=args.max_per_language, seeds=tuple(args.seeds))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'method':<18}{'seed':>5}{'accuracy':>10}{'cpu s':>8}")
        for r in rows:
            print(f"{r['method']:<18}{r['seed']:>5}{r['accuracy']:>10.3f}{r['cpu_seconds']:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
