"""The engine's layout: what each primitive's name is known by, and where.

Issue 13: a primitive's name appears in at most two files of ``bobodiff/``, its rule entry
(``rules.py``) and its public export (``__init__.py``); every other table, method and
printer is made from ``RULES``.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

from bobodiff.rules import RULES

PACKAGE = Path(__file__).resolve().parent.parent / "bobodiff"

# What stands for a backend namespace (``MATH.add``, ``ops.mul``, ``backend_for(xs).sum``).
_BACKEND_NAMES = frozenset({"MATH", "NUMPY", "GENERIC", "ops", "o", "backend", "bk"})
_BACKEND_CALLS = frozenset({"backend_for", "backend_of"})

# Files that still name a primitive, with the reason (none now); the test fails when an
# entry is stale, so this list only shrinks.
_NOT_YET: dict[tuple[str, str], str] = {}


def _spellings(name: str) -> set[str]:
    """What spells primitive ``name`` in code: the name, the module alias ``_NAME`` an
    engine may bind its rule to, and the special methods its entry gives the wrappers."""
    return {name, f"_{name.upper()}", *RULES[name].methods}


def _is_backend(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _BACKEND_NAMES
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _BACKEND_CALLS)


def _mentions(tree: ast.Module, spellings: set[str], name: str) -> list[str]:
    """Where ``tree`` names the primitive: each mention as ``line: what``."""
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Store)}
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    bound |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
              for a in n.names}
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in spellings:
                found.append(f"{line}: string {node.value!r}")
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            if node.name in spellings:
                found.append(f"{line}: def {node.name}")
        elif isinstance(node, ast.alias):
            if (node.asname or node.name) in spellings:
                found.append(f"{line}: import {node.name}")
        elif isinstance(node, ast.Name):
            # a builtin of the same name (sum, abs) that the module does not rebind is
            # Python's own, not the primitive
            if node.id in spellings and (node.id in bound or not hasattr(builtins, node.id)):
                found.append(f"{line}: name {node.id}")
        elif isinstance(node, ast.Attribute):
            if node.attr in spellings and (node.attr != name or _is_backend(node.value)):
                found.append(f"{line}: attribute .{node.attr}")
    return found


def primitive_mentions() -> dict[str, dict[str, list[str]]]:
    """For each primitive, the files of ``bobodiff/`` that name it, with the mentions."""
    trees = {p.name: ast.parse(p.read_text(), p.name) for p in sorted(PACKAGE.glob("*.py"))}
    out: dict[str, dict[str, list[str]]] = {}
    for name in RULES:
        spellings = _spellings(name)
        out[name] = {f: m for f, tree in trees.items() if (m := _mentions(tree, spellings, name))}
    return out


def test_a_primitive_is_named_in_its_rule_entry_and_its_public_export_only():
    """A file *names* primitive ``p`` when its code (not its docstrings or comments) has

    * a string equal to ``p`` or to one of the special methods p's entry lists
      (``RULES["mul"]``, a table key ``{"mul": ...}``, ``op == "mul"``, ``"__mul__"``);
    * a definition, import or use of the identifier ``p`` (unless it is Python's builtin
      of that name, unbound in the module: ``sum(...)``, ``abs(...)``), of ``_P`` (an
      engine's alias for the rule, ``_MUL``) or of one of those special methods
      (``def __mul__``, ``Tensor.__neg__``);
    * an attribute ``.p`` taken on a backend namespace (``MATH.mul``, ``ops.sum``,
      ``backend_for(xs).transpose``): a dispatch to that primitive by name.

    Attributes of NumPy, of Python's containers or of arrays that share the name
    (``np.add``, ``seen.add``, ``g.reshape``) are not the primitive and do not count; nor
    does a name built at run time from the table (``getattr(NUMPY, rule.name)``).
    At most two files may name each primitive: ``rules.py`` and ``__init__.py``.
    """
    mentions = primitive_mentions()
    too_many = {}
    for name, files in mentions.items():
        counted = {f: m for f, m in files.items() if (name, f) not in _NOT_YET}
        if len(counted) > 2 or set(counted) - {"rules.py", "__init__.py"}:
            too_many[name] = counted
    assert not too_many, "primitives named outside their rule entry and export:\n" + "\n".join(
        f"  {n}: " + "; ".join(f"{f} ({', '.join(m[:3])})" for f, m in files.items())
        for n, files in too_many.items())
    stale = [key for key in _NOT_YET if key[1] not in mentions[key[0]]]
    assert not stale, f"_NOT_YET lists files that no longer name the primitive: {stale}"
