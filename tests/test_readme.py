"""The README is the front door: its configuration table must name every variable."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_READ = re.compile(
    r"(?:(?:os\.environ|\benv)\.(?:get|setdefault)\(\s*|os\.environ\[\s*|env_\w+\(\s*)"
    r"[\"']([A-Z][A-Z0-9_]+)[\"']"
)
SOURCES = [
    "euterpe_site/settings.py",
    "gunicorn.conf.py",
    "devtools/localdb.py",
    "devtools/run.py",
]


def documented_variables():
    readme = (ROOT / "README.md").read_text()
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))


def variables_read_by_the_code():
    names = set()
    for source in SOURCES:
        names |= set(ENV_READ.findall((ROOT / source).read_text()))
    return names - {"DJANGO_SETTINGS_MODULE"}


def test_the_code_reads_the_variables_this_test_looks_for():
    found = variables_read_by_the_code()
    assert {"SECRET_KEY", "SPOTIFY_AUTH_BASE_URL", "WEB_CONCURRENCY", "PORT"} <= found


def test_every_environment_variable_is_in_the_readme_table():
    missing = variables_read_by_the_code() - documented_variables()
    assert not missing, f"README's configuration table lacks {sorted(missing)}"


def test_the_readme_names_the_two_commands_and_the_operator_commands():
    readme = (ROOT / "README.md").read_text()
    for command in (
        "make run",
        "make test",
        "manage.py migrate",
        "manage.py dbcheck",
        "manage.py purge_expired",
        "manage.py rotate_encryption_key",
        "GET /health",
        "GET /db_check",
    ):
        assert command in readme, command
