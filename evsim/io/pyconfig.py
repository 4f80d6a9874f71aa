"""Read a Python config file (SNN-delays' ``config.py`` / ``best_config_*.py``) or its JSON twin, never running it.

The Python file is parsed with `ast`; the assignments of its ``class Config:`` (or of the module, when there is no
such class) are evaluated in order, with literals, names assigned before, arithmetic (``+ - * / // % **``),
comparisons, ``and``/``or``/``not``, conditional expressions, tuples/lists/dicts and f-strings over those. Anything
else (imports, calls such as ``surrogate.ATan(alpha=alpha)``, attribute access) is skipped and named in
``notes``: nothing is executed. A JSON file is a flat object of the same names.
"""

from __future__ import annotations

import ast
import json
import operator
from pathlib import Path
from typing import Any

from ..errors import ModelFileError

_BIN = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMP = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_UNARY: dict[type, Any] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}


class _Skip(Exception):
    pass


def _eval(node: ast.AST, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise _Skip(f"name {node.id!r} is not defined before")
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        a, b = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Pow) and isinstance(b, (int, float)) and abs(b) > 64:
            raise _Skip("exponent too large")
        if isinstance(node.op, ast.Mult) and (isinstance(a, (str, list, tuple)) or isinstance(b, (str, list, tuple))):
            raise _Skip("sequence repetition")
        try:
            return _BIN[type(node.op)](a, b)
        except Exception as e:  # noqa: BLE001 - ZeroDivisionError, TypeError
            raise _Skip(f"{type(e).__name__}: {e}") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, env))
    if isinstance(node, ast.BoolOp):
        vals = [_eval(v, env) for v in node.values]
        out = vals[0]
        for v in vals[1:]:
            out = (out and v) if isinstance(node.op, ast.And) else (out or v)
        return out
    if isinstance(node, ast.Compare) and all(type(o) in _CMP for o in node.ops):
        left = _eval(node.left, env)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, env)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, env) if _eval(node.test, env) else _eval(node.orelse, env)
    if isinstance(node, (ast.Tuple, ast.List)):
        vals = [_eval(e, env) for e in node.elts]
        return tuple(vals) if isinstance(node, ast.Tuple) else vals
    if isinstance(node, ast.Dict):
        return {_eval(k, env): _eval(v, env) for k, v in zip(node.keys, node.values) if k is not None}
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.FormattedValue):
                spec = "".join(str(_eval(s, env)) for s in v.format_spec.values) if v.format_spec else ""  # type: ignore[attr-defined]
                parts.append(format(_eval(v.value, env), spec))
            else:
                parts.append(str(_eval(v, env)))
        return "".join(parts)
    raise _Skip(ast.unparse(node)[:60])


def read_config(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """``(values, notes)`` from a ``config.py`` or ``config.json``; notes name what was skipped."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: no such config file")
    text = p.read_text(errors="replace")
    if p.suffix.lower() == ".json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelFileError(f"{p}: not valid JSON ({e})") from None
        if not isinstance(values, dict):
            raise ModelFileError(f"{p}: expected a JSON object of config values")
        return values, []
    try:
        tree = ast.parse(text, filename=str(p))
    except SyntaxError as e:
        raise ModelFileError(f"{p}: not a Python config file (line {e.lineno}: {e.msg})") from None
    body = tree.body
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Config":
            body = node.body
            break
    env: dict[str, Any] = {}
    notes: list[str] = []
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Expr, ast.Pass)):
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            try:
                value = _eval(stmt.value, env)
            except (_Skip, RecursionError) as e:
                notes.append(f"line {stmt.lineno}: {', '.join(names)} skipped (not a literal expression: {e})")
                continue
            for n in names:
                env[n] = value
        else:
            notes.append(f"line {stmt.lineno}: {type(stmt).__name__} statement skipped")
    return env, notes
