"""Packaging: every third-party import is declared in the extra that needs it, the package ships ``py.typed``,
and with only the core dependencies (torch, numpy) ``mixkit --help`` and ``mixkit list`` work while the
commands that need an extra name it in one line before doing any work.

Two checks: in a fresh interpreter whose optional packages are blocked by a meta-path finder (fast), and a
real ``pip install --no-deps`` into a throwaway venv that sees only torch, numpy and their own requirements
(slow)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
OPTIONAL = ("matplotlib", "PIL", "sklearn", "scipy", "tqdm", "threadpoolctl", "lightgbm", "ray", "numba",
            "datasets", "maxflow", "transformers", "accelerate", "lightning", "pytorch_lightning", "timm",
            "librosa")
# import name -> distribution name, for the packages mixkit imports
DISTRIBUTION = {"PIL": "pillow", "sklearn": "scikit-learn", "maxflow": "pymaxflow", "torch": "torch",
                "numpy": "numpy", "matplotlib": "matplotlib", "scipy": "scipy", "tqdm": "tqdm",
                "threadpoolctl": "threadpoolctl", "lightgbm": "lightgbm", "ray": "ray", "numba": "numba",
                "datasets": "datasets", "transformers": "transformers", "accelerate": "accelerate",
                "lightning": "lightning", "timm": "timm",
                # the fallback import for the standalone package; the lightning distribution requires it
                "pytorch_lightning": "lightning",
                "librosa": "librosa"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party module -> the files of src/ that import it."""
    stdlib = set(sys.stdlib_module_names)
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top not in ("mixkit", "__future__"):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _declared(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def test_every_third_party_import_is_declared():
    project = _pyproject()["project"]
    core = _declared(project["dependencies"])
    extras = {name: _declared(reqs) for name, reqs in project["optional-dependencies"].items()}
    anywhere = core.union(*extras.values())
    for module, files in _third_party_imports().items():
        dist = DISTRIBUTION.get(module)
        assert dist is not None, f"{module} (imported by {sorted(files)}) has no known distribution"
        assert dist in anywhere, f"{dist} (imported by {sorted(files)}) is declared in no extra"
        if module not in ("torch", "numpy"):
            assert dist not in core, f"{dist} must be optional"
    assert {"torch", "numpy"} == core
    assert {"scikit-learn", "scipy", "threadpoolctl"} <= extras["search"]
    assert {"matplotlib", "pillow", "tqdm", "scikit-learn", "scipy"} <= extras["bench"]
    assert {"matplotlib", "pillow"} <= extras["plot"]


def test_metadata_names_urls_classifiers_and_py_typed():
    config = _pyproject()
    project = config["project"]
    assert project["dynamic"] == ["version"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mixkit.__version__"}
    assert {"Homepage", "Documentation", "Changelog", "Issues"} <= set(project["urls"])
    assert "Typing :: Typed" in project["classifiers"]
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # the license expression says
    assert (SRC / "mixkit" / "py.typed").is_file()
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["mixkit"]


_CORE_ONLY = r"""
import contextlib, io, json, sys
BLOCKED = set(sys.argv[1].split(","))

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Block())
import mixkit, mixkit.sample, mixkit.domain, mixkit.cli
from mixkit.cli import main

def call(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    return {"code": code, "out": out.getvalue()[-2000:], "err": err.getvalue()}

result = {argv_key: call(argv) for argv_key, argv in json.loads(sys.argv[2]).items()}
result["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps(result))
"""

CASES = {
    "help": ["--help"],
    "version": ["--version"],
    "list": ["list"],
    "list_json": ["list", "--json"],
    "bench": ["bench", "--epochs", "1"],
    "study": ["bench", "--suite", "calibration"],
    "text_domains": ["bench", "--suite", "text-domains"],
    "gallery": ["gallery"],
    "search": ["mixture", "search", "--steps", "1"],
    "plan": ["mixture", "plan", "--sizes", "a=10,b=30", "--total", "100"],
    "plan_png": ["mixture", "plan", "--sizes", "a=10,b=30", "--out", "never.png"],
}


def _check_core_only(result: dict, version: str) -> None:
    assert result["imported"] == [], f"optional packages imported by the core: {result['imported']}"
    assert result["help"]["code"] == 0 and "mixture" in result["help"]["out"]
    assert result["version"]["code"] == 0 and result["version"]["out"].strip() == f"mixkit {version}"
    assert result["list"]["code"] == 0 and "merging-estimator" in result["list"]["out"]
    assert result["list_json"]["code"] == 0
    assert result["plan"]["code"] == 0 and "epochs" in result["plan"]["out"]
    for key, extra in (("bench", "bench"), ("study", "bench"), ("gallery", "bench"), ("search", "search"),
                       ("text_domains", "search"), ("plan_png", "plot")):
        r = result[key]
        assert r["code"] == 2, (key, r)
        assert r["err"].count("\n") == 1 and r["err"].startswith("mixkit: error: "), (key, r["err"])
        assert f"pip install 'mixkit[{extra}]'" in r["err"], (key, r["err"])
        assert "Traceback" not in r["err"] and r["out"] == "", (key, r)


def test_core_only_commands_name_the_missing_extra(tmp_path):
    import mixkit

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", _CORE_ONLY, ",".join(OPTIONAL), json.dumps(CASES)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_core_only(json.loads(proc.stdout.strip().splitlines()[-1]), mixkit.__version__)
    assert not (tmp_path / "never.png").exists() and list(tmp_path.iterdir()) == []


def _requirement_closure(roots: tuple[str, ...]) -> set[str]:
    """The distributions ``roots`` need to import, recursively (without their optional extras)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            todo.append(re.split(r"[<>=!~;\[ (]", req, maxsplit=1)[0])
    return seen


@pytest.mark.slow
def test_pip_install_no_deps_into_a_core_only_venv(tmp_path):
    """A real install: a venv without system site-packages that sees torch, numpy and their own requirements
    through a .pth file (nothing of the extras), ``pip install --no-deps .``, then the console script."""
    import mixkit

    venv = tmp_path / "venv"
    # no pip of its own (its bundled setuptools would shadow the one below): pip runs from here (--python)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    core = tmp_path / "core"
    core.mkdir()
    dists = _requirement_closure(("torch", "numpy"))
    assert not dists & {"matplotlib", "scikit-learn", "scipy", "tqdm", "pillow"}, dists
    for name in dists:
        dist = md.distribution(name)
        for f in dist.files or []:
            top = f.parts[0]
            if top == ".." or top.endswith(".pth") or (core / top).exists():
                continue
            source = Path(dist.locate_file(top))
            if source.exists():
                (core / top).symlink_to(source)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "mixkit-core-deps.pth").write_text(str(core) + "\n")
    assert sysconfig.get_paths()["purelib"] != purelib
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_NO_INDEX"] = "1"  # nothing is downloaded: the build uses the setuptools torch already needs
    tree = tmp_path / "tree"  # build from a copy: setuptools writes build/ and *.egg-info into the tree
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(SRC / "mixkit", tree / "src" / "mixkit", ignore=shutil.ignore_patterns("__pycache__"))
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                              "--no-build-isolation", str(tree)],
                             capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = subprocess.run([str(py), "-c", "import importlib.util as u, mixkit, pathlib; "
                            "print(mixkit.__file__); print([m for m in " + repr(list(OPTIONAL))
                            + " if u.find_spec(m)]); "
                            "print((pathlib.Path(mixkit.__file__).parent / 'py.typed').is_file())"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    where, present, typed = probe.stdout.strip().splitlines()
    assert str(venv) in where and present == "[]" and typed == "True"
    mixkit_exe = str(venv / "bin" / "mixkit")

    def run(*argv):
        return subprocess.run([mixkit_exe, *argv], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=300)

    assert run("--version").stdout.strip() == f"mixkit {mixkit.__version__}"
    helped = run("--help")
    assert helped.returncode == 0 and "mixture" in helped.stdout, helped.stderr[-2000:]
    listed = run("list")
    assert listed.returncode == 0 and "cutmix" in listed.stdout, listed.stderr[-2000:]
    for argv, extra in ((("bench",), "bench"), (("mixture", "search"), "search")):
        r = run(*argv)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
        assert f"pip install 'mixkit[{extra}]'" in r.stderr and "Traceback" not in r.stderr
