"""gunicorn.conf.py as the Procfile's web line runs it."""

import socket
import subprocess
import sys
import time

import pytest
import requests
from django.db import connection

from tests.support import BASE_DIR, production_env


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_gunicorn_opens_no_control_socket_that_parallel_stacks_would_share(tmp_path):
    """gunicorn 27 opens $XDG_RUNTIME_DIR/gunicorn.ctl (or ~/.gunicorn/gunicorn.ctl) by
    default: two stacks on one host would fight over it. Euterpe's config turns it off."""
    port = _free_port()
    env = production_env(
        connection.settings_dict["NAME"],
        PORT=str(port),
        WEB_CONCURRENCY="1",
        XDG_RUNTIME_DIR=str(tmp_path),
        HOME=str(tmp_path),
    )
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "euterpe_site.wsgi"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = None
        for _ in range(300):
            try:
                status = requests.get(
                    f"http://127.0.0.1:{port}/health",
                    headers={"Host": "euterpe.example.com"},
                    timeout=5,
                ).status_code
                break
            except requests.ConnectionError:
                assert gunicorn.poll() is None, gunicorn.stderr.read()
                time.sleep(0.1)
        assert status == 200

        assert sorted(path.name for path in tmp_path.rglob("*")) == []
    finally:
        gunicorn.terminate()
        gunicorn.communicate(timeout=30)  # closes the stderr pipe too
