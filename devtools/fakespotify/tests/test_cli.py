"""Running the fake as its own process, as `make run` and the bench script do."""

import re
import subprocess
import sys
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_the_fake_runs_as_a_process_and_announces_its_url():
    command = [
        sys.executable,
        "-m",
        "devtools.fakespotify",
        "--port",
        "0",
        "--listeners",
        "3",
        "--no-rotation",
        "--latency",
        "0",
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"Fake Spotify listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line + process.stderr.read()
        base_url = match.group(1)

        listeners = requests.get(f"{base_url}/_control/listeners", timeout=10).json()
        page = requests.get(f"{base_url}/", timeout=10)

        assert "listener-0003" in listeners["listeners"]
        assert page.status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert stderr == ""  # quiet: no per-request logging
