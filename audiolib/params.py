"""Notebook parameters: read the tagged ``parameters`` cell and check values before any work.

A parameters cell holds one line per parameter::

    MODELS: list = ["fc_audio", "resnet50_audio"]  # names from audiolib.models.list_models()
    STEPS: int = 2000  # > 0
    PROFILE: str = "quick"  # {"smoke", "quick", "full"}

The comment after ``#`` states the allowed values: ``{...}`` a set of literals, ``>= x``,
``> x``, ``<= x``, ``< x``, ``a..b`` an inclusive range, optionally followed by a description
(``# > 0 clips of the corpus``); a comment starting otherwise is only a description.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}


class ParameterError(ValueError):
    """A notebook parameter is unknown, of the wrong type or outside its allowed values."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type_name: str
    default: Any
    allowed: str  # the comment, verbatim

    def check(self, value: Any, *, where: str) -> None:
        """Raise :class:`ParameterError` naming ``where`` and the parameter if ``value`` is not allowed."""
        expected = _TYPES.get(self.type_name)
        ok_type = expected is None or isinstance(value, expected) or (expected is float and isinstance(value, int))
        if expected in (int, float) and isinstance(value, bool):
            ok_type = False
        if not ok_type:
            raise ParameterError(f"{where}: parameter {self.name} must be {self.type_name}, got "
                                 f"{type(value).__name__} {value!r}; allowed: {self.allowed or self.type_name}")
        if not _allowed(value, self.allowed):
            raise ParameterError(f"{where}: parameter {self.name}={value!r} is not allowed; allowed: {self.allowed}")


_NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _allowed(value: Any, rule: str) -> bool:
    # The rule is the comment's start; text after it describes (``# > 0 clips of the corpus``).
    rule = rule.strip()
    if rule.startswith("{") and "}" in rule:
        try:
            choices = ast.literal_eval(rule[: rule.index("}") + 1])
        except (ValueError, SyntaxError):
            choices = None
        if isinstance(choices, (set, dict)):
            values = value if isinstance(value, list) else [value]
            return all(v in choices for v in values)
    m = re.match(rf"(>=|>|<=|<)\s*({_NUMBER})(?![\w.])", rule)
    if m and isinstance(value, (int, float)):
        op, bound = m.group(1), float(m.group(2))
        return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[op]
    m = re.match(rf"({_NUMBER})\s*\.\.\s*({_NUMBER})(?![\w.])", rule)
    if m and isinstance(value, (int, float)):
        return float(m.group(1)) <= value <= float(m.group(2))
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


def validate(notebook: str | Path, values: dict[str, Any]) -> None:
    """Check ``values`` against ``notebook``'s declared parameters; raise naming the first problem."""
    declared = notebook_parameters(notebook)
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ParameterError(f"{Path(notebook).name}: unknown parameter(s) {unknown}; "
                             f"declared parameters: {', '.join(declared)}")
    for name, value in values.items():
        declared[name].check(value, where=Path(notebook).name)


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
