"""Every third-party package the code imports is pinned: what the app imports in
requirements.txt, what tests, bench, e2e and devtools import in either file."""

import ast
import importlib.metadata
import re
import sys

from tests.support import BASE_DIR

SKIPPED_DIRS = {".venv", "var", "staticfiles", "artifacts", "node_modules", ".git"}
DEVELOPMENT_DIRS = {"tests", "bench", "e2e", "devtools"}


def _pinned(name):
    pins = set()
    for line in (BASE_DIR / name).read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?==", line.strip())
        if match:
            pins.add(_normalise(match.group(1)))
    return pins


def _normalise(distribution):
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _imports():
    """{top-level module: {files importing it}} for modules neither stdlib nor ours."""
    ours = {path.name.removesuffix(".py") for path in BASE_DIR.iterdir()}
    found = {}
    for path in BASE_DIR.rglob("*.py"):
        relative = path.relative_to(BASE_DIR)
        if SKIPPED_DIRS & set(relative.parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ours:
                    found.setdefault(top, set()).add(relative)
    return found


def _for_development(path):
    return bool(DEVELOPMENT_DIRS & set(path.parts)) or path.name == "conftest.py"


def test_every_imported_package_is_pinned_where_its_importers_need_it():
    runtime = _pinned("requirements.txt")
    development = runtime | _pinned("requirements-dev.txt")
    distributions = importlib.metadata.packages_distributions()
    unpinned = []
    for module, files in sorted(_imports().items()):
        names = {_normalise(name) for name in distributions.get(module, [module])}
        app_files = sorted(str(path) for path in files if not _for_development(path))
        if app_files and not names & runtime:
            unpinned.append(f"{module} (requirements.txt, for {app_files[0]})")
        elif not names & development:
            unpinned.append(f"{module} (requirements-dev.txt, for {sorted(map(str, files))[0]})")

    assert unpinned == []
