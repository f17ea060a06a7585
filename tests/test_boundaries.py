"""The dependency picture, kept true by walking every import.

    euterpe_site -> accounts, spotify_stats, listening_history
    spotify_stats, listening_history -> accounts
    every app -> spotify_client -> nothing of ours
    tests -> devtools, never the other way round

Each rule names a package and what it must never import, its tests included
(the client's own tests may use devtools' fake Spotify, and no app either).
Imports are read with ``ast`` (``import``, ``from ... import``, relative imports,
imports inside functions, ``importlib.import_module("...")``), so a rule cannot
be dodged by importing late.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "spotify_client"
APPS = ("accounts", "spotify_stats", "listening_history", "euterpe_site")
OURS = (*APPS, CLIENT, "devtools", "tests", "e2e", "bench")

# (folder, what it must never import, why); the client's tests are a folder of their own.
RULES = [
    (
        "accounts",
        ("spotify_stats", "listening_history"),
        "the apps build on accounts, never the other way round",
    ),
    ("listening_history", ("spotify_stats",), "each app builds on accounts, not on the other"),
    (CLIENT, tuple(name for name in OURS if name != CLIENT), "the client imports nothing of ours"),
    (f"{CLIENT}/tests", APPS, "the client is tested against the fake Spotify, without an app"),
    ("devtools", ("tests", "e2e", "bench", "*.tests"), "tools are apart from tests"),
]
# Folders a rule skips because another rule covers them.
OWN_RULE = {CLIENT: (f"{CLIENT}/tests",)}


def imports_of(path, root=ROOT):
    """``(line, module)`` for every module the file at ``path`` imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    # The package a relative import starts from.
    package = ".".join(path.relative_to(root).parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            # `from pkg import mod` may import the module pkg.mod.
            found += [(node.lineno, module)]
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden(module, names):
    """Whether ``module`` is, or is inside, one of ``names`` (``*.tests``: any app's tests)."""
    parts = module.split(".")
    for name in names:
        if name == "*.tests":
            if "tests" in parts[1:] and parts[0] in APPS:
                return True
        elif module == name or module.startswith(f"{name}."):
            return True
    return False


def violations(folder, names, root=ROOT, skip=()):
    """``"path:line imports module"`` for each line under ``folder`` importing one of ``names``."""
    found = {}
    for path in sorted((root / folder).rglob("*.py")):
        if any(path.is_relative_to(root / other) for other in skip):
            continue
        for line, module in imports_of(path, root):
            if forbidden(module, names):
                found.setdefault((path, line), module)
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for (path, line), module in found.items()
    ]


@pytest.mark.parametrize(("folder", "names", "why"), RULES, ids=[rule[0] for rule in RULES])
def test_a_package_never_imports_what_its_rule_forbids(folder, names, why):
    found = violations(folder, names, skip=OWN_RULE.get(folder, ()))

    assert not found, f"{why}:\n" + "\n".join(found)


def test_the_client_package_and_the_apps_are_where_the_rules_look():
    for package in (CLIENT, f"{CLIENT}/tests", *APPS, "devtools"):
        assert (ROOT / package / "__init__.py").exists(), package


def test_the_walk_finds_every_kind_of_import(tmp_path):
    package = tmp_path / "accounts"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    # Relative imports stay inside their package: accounts.spotify_stats is no app.
    (package / "sub" / "__init__.py").write_text("from ..spotify_stats import a\n")
    (package / "plain.py").write_text("import spotify_stats.cache\n")
    (package / "late.py").write_text("def f():\n    from spotify_stats import stats\n")
    (package / "dynamic.py").write_text(
        "import importlib\nimportlib.import_module('listening_history.models')\n"
    )
    (package / "fine.py").write_text("from accounts import tokens\nimport spotify_client\n")

    found = violations("accounts", ("spotify_stats", "listening_history"), root=tmp_path)

    assert found == [
        "accounts/dynamic.py:2 imports listening_history.models",
        "accounts/late.py:2 imports spotify_stats",
        "accounts/plain.py:1 imports spotify_stats.cache",
    ]
