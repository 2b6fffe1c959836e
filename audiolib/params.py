"""Notebook parameters: read the tagged ``parameters`` cell and check values before any work.

A parameters cell holds one line per parameter::

    MODELS: list = ["fc_audio", "resnet50_audio"]  # {"fc_audio", "alexnet_audio", "resnet50_audio"}
    STEPS: int = 2000  # > 0
    PROFILE: str = "quick"  # {"smoke", "quick", "full"}
    DROPOUTS: list = [0.0, 0.5]  # each in 0..0.95
    EPOCHS: list = [3, 3, 3]  # 3 items, each >= 1 (one per stage)

The comment after ``#`` states the allowed values; text after the rule describes it
(``# > 0 clips of the corpus``), and a comment starting with anything else is only a
description. The rules:

``{a, b, ...}``
    one of these literals; for a ``list`` parameter a non-empty subset (every item one of them).
    ``{models}`` and ``{datasets}`` stand for the registries' names (``audiolib.models.list_models()``,
    ``audiolib.data.list_datasets()``), so that a new CNN or dataset recipe is allowed everywhere
    without editing a notebook; sets join with ``|`` (``{datasets} | {"audioset"}``).
``{a, b, ...} or []``
    for a ``list``: a subset, the empty list included.
``>= x``, ``> x``, ``<= x``, ``< x``, ``a..b``
    a number in that range (``a..b`` inclusive).
``each RULE`` (also ``each in a..b``)
    for a ``list``: non-empty, and every item satisfies ``RULE`` (a range or a set).
``N items, each RULE``
    for a ``list``: exactly ``N`` items, each satisfying ``RULE``.

Whatever the comment says, every number in a value (items of lists and dicts included) must be
finite (``1e999`` and ``nan`` are refused), and a number whose parameter name matches a pattern
of :data:`CAPS` must not exceed that cap (for a list, each of its numbers): the caps keep a typo
(``N_CLIPS=10**9``) from hanging a run for a day or filling the disk. To go beyond a cap on
purpose, name the parameter in ``$AUDIOLIB_LIFT_CAPS`` (``AUDIOLIB_LIFT_CAPS=N_CLIPS,STEPS``,
or ``all``) or pass ``lift_caps=`` to :func:`validate`.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import json
import math
import os
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}

#: Upper bounds of sizes, by parameter-name pattern (``fnmatch``; the first match applies):
#: (pattern, cap, what the cap allows). Each is well above what the papers' settings need.
CAPS: tuple[tuple[str, float, str], ...] = (
    ("SEED", 2**32 - 1, "the largest seed every generator accepts"),
    ("*CLIPS*", 1_000_000, "about half of AudioSet"),
    ("N_*", 1_000_000, "counts of generated items"),
    ("*STEPS", 10_000_000, "several times the papers' longest training"),
    ("*BATCH*", 65_536, "examples per batch"),
    ("*EPOCHS", 10_000, "epochs"),
    ("*WIDTH*", 16.0, "16 times the papers' channel widths"),
    ("LR", 10.0, "learning rates"),
    ("*PER_CLASS", 100_000, "examples per class"),
    ("*UNITS", 65_536, "units per layer"),
    ("*LAYERS", 1_000, "layers"),
    ("*EVERY", 10_000_000, "steps between evaluations"),
    ("*SECONDS", 86_400, "one day of audio"),
    ("TOP_K", 10_000, "classes shown"),
    ("PATIENCE", 10_000, "epochs without improvement"),
    ("*COPIES", 100, "augmented copies of each clip"),
    ("*WORKERS", 256, "loader processes"),
    ("*THREADS", 1_024, "threads"),
)
LIFT_CAPS_ENV = "AUDIOLIB_LIFT_CAPS"


class ParameterError(ValueError):
    """A notebook parameter is unknown, of the wrong type or outside its allowed values."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type_name: str
    default: Any
    allowed: str  # the comment, verbatim

    def check(self, value: Any, *, where: str, lift_caps: Iterable[str] | None = None) -> None:
        """Raise :class:`ParameterError` naming ``where`` and the parameter if ``value`` is not allowed.

        ``lift_caps``: parameter names (or ``"all"``) whose :data:`CAPS` do not apply; default
        from ``$AUDIOLIB_LIFT_CAPS``.
        """
        expected = _TYPES.get(self.type_name)
        ok_type = expected is None or isinstance(value, expected) or (expected is float and isinstance(value, int))
        if expected in (int, float) and isinstance(value, bool):
            ok_type = False
        if not ok_type:
            raise ParameterError(f"{where}: parameter {self.name} must be {self.type_name}, got "
                                 f"{type(value).__name__} {value!r}; allowed: {self.allowed or self.type_name}")
        bad = _first_non_finite(value)
        if bad is not None:
            raise ParameterError(f"{where}: parameter {self.name}={value!r:.80} holds {bad!r}; numbers must be finite"
                                 + (f"; allowed: {self.allowed}" if self.allowed else ""))
        problem = _rule_problem(value, self.allowed)
        if problem is not None:
            detail = f" ({problem})" if problem else ""
            raise ParameterError(f"{where}: parameter {self.name}={value!r} is not allowed{detail}; "
                                 f"allowed: {self.allowed}{_expanded(self.allowed)}")
        self._check_cap(value, where, lift_caps)

    def _check_cap(self, value: Any, where: str, lift_caps: Iterable[str] | None) -> None:
        cap = cap_of(self.name)
        if cap is None or self.name in _lifted(lift_caps) or "all" in _lifted(lift_caps):
            return
        numbers = value if isinstance(value, list) else [value]
        over = [v for v in numbers if _is_number(v) and v > cap[0]]
        if over:
            raise ParameterError(
                f"{where}: parameter {self.name}={value!r:.80} is above its cap {cap[0]:g} ({cap[1]}); if that is "
                f"meant, lift the cap: {LIFT_CAPS_ENV}={self.name} in the environment, or "
                f"params.validate(..., lift_caps=[{self.name!r}])")


def cap_of(name: str) -> tuple[float, str] | None:
    """``(cap, what it allows)`` of parameter ``name`` from :data:`CAPS`, or ``None``."""
    for pattern, cap, why in CAPS:
        if fnmatch.fnmatchcase(name, pattern):
            return cap, why
    return None


def _lifted(lift_caps: Iterable[str] | None) -> set[str]:
    if lift_caps is None:
        lift_caps = os.environ.get(LIFT_CAPS_ENV, "").split(",")
    return {str(n).strip() for n in lift_caps if str(n).strip()}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _first_non_finite(value: Any) -> float | None:
    """The first infinite or NaN float in ``value`` (searching lists, tuples and dicts), or ``None``."""
    if isinstance(value, float):
        return None if math.isfinite(value) else value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        bad = _first_non_finite(item)
        if bad is not None:
            return bad
    return None


_NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_EACH = re.compile(r"(?:(\d+)\s+items?\s*,?\s+)?each\s+(?:in\s+)?(.*)", re.S)


def _rule_problem(value: Any, rule: str) -> str | None:
    """``None`` when ``value`` satisfies the comment's rule; else what is wrong ("" if nothing to add)."""
    rule = rule.strip()
    each = _EACH.match(rule)
    if each:
        if not isinstance(value, list):
            return "an 'each' rule needs a list"
        if each.group(1) is not None and len(value) != int(each.group(1)):
            return f"{len(value)} items, {each.group(1)} needed"
        if not value:
            return "the list is empty"
        for i, item in enumerate(value):
            if not _scalar_allowed(item, each.group(2)):
                return f"item {i}: {item!r}"
        return None
    if isinstance(value, list) and rule.startswith("{"):
        if not value and not re.match(r"\{.*\}\s*or\s*\[\]", rule, re.S):
            return "the list is empty; a list of these names needs at least one"
        bad = [v for v in value if not _scalar_allowed(v, rule)]
        return f"{bad[0]!r} is not one of them" if bad else None
    return None if _scalar_allowed(value, rule) else ""


_SET_RULE = re.compile(r"\{[^{}]*\}(?:\s*\|\s*\{[^{}]*\})*")


def registry_names(kind: str) -> list[str]:
    """The names a ``{models}`` / ``{datasets}`` rule stands for."""
    if kind == "models":
        from audiolib.models import list_models

        return list_models()
    from audiolib.data import list_datasets

    return list_datasets()


def _expanded(rule: str) -> str:
    """`` ({models} = a, b, ...)`` for the registry sets a rule names, else ``""``."""
    kinds = [k for k in ("models", "datasets") if "{" + k + "}" in rule.replace(" ", "")]
    return "".join(f" ({{{k}}} = {', '.join(registry_names(k))})" for k in kinds)


def _choices(rule: str) -> set | None:
    """The allowed values of a leading set rule (``{...} | {models} | ...``), or ``None``."""
    m = _SET_RULE.match(rule)
    if not m:
        return None
    choices: set = set()
    for part in re.findall(r"\{[^{}]*\}", m.group(0)):
        if part.replace(" ", "") in ("{models}", "{datasets}"):
            choices |= set(registry_names(part.strip("{} ")))
            continue
        try:
            literal = ast.literal_eval(part)
        except (ValueError, SyntaxError):
            return None
        if not isinstance(literal, (set, dict)):
            return None
        choices |= set(literal)
    return choices


def _scalar_allowed(value: Any, rule: str) -> bool:
    # The rule is the comment's start; text after it describes (``# > 0 clips of the corpus``).
    rule = rule.strip()
    choices = _choices(rule)
    if choices is not None:
        return not isinstance(value, (list, dict)) and value in choices
    m = re.match(rf"(>=|>|<=|<)\s*({_NUMBER})(?![\w.])", rule)
    if m:
        if not _is_number(value):
            return False
        op, bound = m.group(1), float(m.group(2))
        return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[op]
    m = re.match(rf"({_NUMBER})\s*\.\.\s*({_NUMBER})(?![\w.])", rule)
    if m:
        return _is_number(value) and float(m.group(1)) <= value <= float(m.group(2))
    return True


def parameters_cell(notebook: str | Path) -> str:
    """Source of the cell tagged ``parameters`` in ``notebook`` (error if there is none or several)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{notebook}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    src = cells[0]["source"]
    return "".join(src) if isinstance(src, list) else src


def parse_parameters(source: str, *, where: str = "parameters cell") -> dict[str, Parameter]:
    """Parse ``NAME: type = literal  # allowed`` lines into :class:`Parameter` objects."""
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out: dict[str, Parameter] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            raise ParameterError(f"{where}: line {node.lineno} is not of the form 'NAME: type = literal  # allowed'")
        try:
            default = ast.literal_eval(node.value)
        except ValueError as exc:
            raise ParameterError(f"{where}: {node.target.id} must be a literal (nothing derived)") from exc
        type_name = ast.unparse(node.annotation)
        param = Parameter(node.target.id, type_name, default, comments.get(node.lineno, ""))
        param.check(default, where=f"{where} (default)")
        out[param.name] = param
    return out


def notebook_parameters(notebook: str | Path) -> dict[str, Parameter]:
    """The declared parameters of ``notebook``."""
    return parse_parameters(parameters_cell(notebook), where=str(notebook))


def validate(notebook: str | Path, values: dict[str, Any], *, lift_caps: Iterable[str] | None = None) -> None:
    """Check ``values`` against ``notebook``'s declared parameters; raise naming the first problem.

    ``lift_caps``: names of parameters (or ``"all"``) allowed beyond :data:`CAPS`; default from
    ``$AUDIOLIB_LIFT_CAPS``.
    """
    declared = notebook_parameters(notebook)
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ParameterError(f"{Path(notebook).name}: unknown parameter(s) {unknown}; "
                             f"declared parameters: {', '.join(declared)}")
    for name, value in values.items():
        declared[name].check(value, where=Path(notebook).name, lift_caps=lift_caps)


def require(condition: bool, parameter: str, message: str) -> None:
    """For checks across parameters inside a notebook: raise ``ParameterError`` naming ``parameter``."""
    if not condition:
        raise ParameterError(f"parameter {parameter}: {message}")


def parse_assignments(items: list[str], *, option: str = "--set") -> dict[str, Any]:
    """``["NAME=VALUE", ...]`` from a command line -> ``{NAME: value}``.

    A value is read as a Python literal when it is one (``3``, ``0.5``, ``['a']``), else kept as text.

    >>> parse_assignments(["STEPS=3", "MODEL=fc_audio"])
    {'STEPS': 3, 'MODEL': 'fc_audio'}
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"{option} {item!r}: expected NAME=VALUE")
        name, raw = item.split("=", 1)
        try:
            out[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[name] = raw
    return out


def collect(namespace: dict[str, Any]) -> dict[str, Any]:
    """The notebook's parameters from its globals: UPPER_CASE names holding plain values.

    >>> collect({"STEPS": 3, "np": object(), "_X": 1})
    {'STEPS': 3}
    """
    plain = (int, float, str, bool, list, dict, type(None))
    return {k: v for k, v in namespace.items() if k.isupper() and not k.startswith("_") and isinstance(v, plain)}
