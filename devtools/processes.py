"""Euterpe in a fresh Python process: a snippet, a management command, or its settings.

Shared by the tests and devtools.stack. The child runs in the project's
directory with exactly the environment it is given (callers that want theirs
inherited pass a copy of ``os.environ``) and output captured as text.
"""

import json
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
TIMEOUT = 120

# Prints the settings named on the command line as one JSON line, as Django sees them.
_PRINT_SETTINGS = (
    "import json, sys, django; django.setup(); from django.conf import settings; "
    "print(json.dumps({n: getattr(settings, n) for n in sys.argv[1:]}, default=str))"
)


def run_python(code: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    """``python -c code args...`` with this interpreter."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    """``python manage.py args...`` with this interpreter."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def settings_in_fresh_process(env: dict, *names: str) -> dict:
    """Euterpe's settings ``names`` as a process started with ``env`` sees them.

    Values come back through JSON (anything else as its ``str``). Raises
    RuntimeError, with the child's stderr, when the settings cannot load.
    """
    env = {**env, "DJANGO_SETTINGS_MODULE": "euterpe_site.settings"}
    result = run_python(_PRINT_SETTINGS, env, *names)
    if result.returncode != 0:
        raise RuntimeError(
            f"Euterpe's settings did not load ({result.returncode}):\n{result.stderr}"
        )
    # The last line: anything logged while Django set up comes before it.
    return json.loads(result.stdout.strip().splitlines()[-1])
