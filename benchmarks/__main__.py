"""``python -m benchmarks [NAME [ARGS...]]``: run one benchmark by name, or all of them.

``python -m benchmarks --list`` lists the names. A benchmark is registered in ``BENCHMARKS`` as
``name -> "module:function"``; the module is imported only when that benchmark runs, and the
function takes the remaining command-line arguments (``argv: list[str]``).
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: dict[str, str] = {
    "frontend": "benchmarks.frontend:main",
    "training": "benchmarks.training:main",
    "featurize": "benchmarks.featurize:main",
    "cpu-speed": "benchmarks.cpu_speed:main",
}


def _load(name: str):
    module_name, _, function = BENCHMARKS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        return None
    return getattr(module, function)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = f"usage: python -m benchmarks [NAME [ARGS...]] | --list   (NAME one of {sorted(BENCHMARKS)})"
    if argv and argv[0] in ("-h", "--help"):
        print(usage)
        return 0
    if argv and argv[0] == "--list":
        for name in BENCHMARKS:
            print(f"{name:12s} {BENCHMARKS[name]}{'' if _load(name) else '  (not available: module missing)'}")
        return 0
    if argv:
        name, rest = argv[0], argv[1:]
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}", file=sys.stderr)
            return 2
        run = _load(name)
        if run is None:
            print(f"benchmark {name!r} is registered as {BENCHMARKS[name]} but that module does not exist",
                  file=sys.stderr)
            return 2
        return int(run(rest) or 0)
    status = 0
    for name in BENCHMARKS:  # no name: every registered benchmark with its defaults
        run = _load(name)
        if run is None:
            print(f"== {name}: skipped, module {BENCHMARKS[name]} does not exist")
            continue
        print(f"== {name}")
        status = max(status, int(run([]) or 0))
    return status


if __name__ == "__main__":
    sys.exit(main())
