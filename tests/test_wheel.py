"""The PyPI form: the wheel, built from this tree and installed with pip into
a fresh venv, runs both programs -- their --version, check on the shipped
samples (filled in), and the client once against a server from the same wheel.

Offline: the venv sees the machine's own packages (cheroot, requests, ...),
the wheel is built without build isolation (Debian's setuptools) and
installed without an index.  ``make dist`` builds the published files with
build and twine.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import REPO, WAIT, ServerProcess, child_env, server_config

STEP = 180  # seconds for one pip or venv step


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv with the wheel installed; its bin/."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in tracked.splitlines():  # a clean export, as make deb takes
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=STEP)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w",
                    str(root / "dist"), str(source)], check=True, timeout=STEP,
                   env=child_env(PYTHONPATH=""))
    [wheel] = (root / "dist").glob("chipmunk-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "chipmunk/samples/client.ini" in names and not any(
        name.startswith(("tools/", "tests/")) for name in names)
    subprocess.run([*pip, "install", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=STEP, env=child_env(PYTHONPATH=""))
    return venv / "bin"


def run(installed: Path, program: str, *args: str) -> subprocess.CompletedProcess:
    # PYTHONPATH empty: the programs come from the venv, not from this tree
    return subprocess.run([str(installed / program), *args], capture_output=True, text=True,
                          timeout=WAIT, env=child_env(PYTHONPATH=""), cwd="/")


def test_both_programs_run_from_the_installed_wheel(installed, tmp_path):
    from chipmunk import __version__
    for program in ("chipmunk-server", "chipmunk-client"):
        assert run(installed, program, "--version").stdout == f"{program} {__version__}\n"
    sample = run(installed, "chipmunk-client", "sample-config").stdout
    filled = tmp_path / "client.ini"
    filled.write_text(sample.replace("\nusername =\n", "\nusername = alice\n")
                      .replace("\npassword =\n", "\npassword = wonderland\n")
                      .replace("\nendpoint =\n", "\nendpoint = http://127.0.0.1:9\n"))
    filled.chmod(0o600)
    assert run(installed, "chipmunk-client", "--config", str(filled), "check").returncode == 0
    server_sample = tmp_path / "server.ini"
    server_sample.write_text(run(installed, "chipmunk-server", "sample-config").stdout)
    result = run(installed, "chipmunk-server", "--config", str(server_sample), "check")
    assert result.returncode == 0, result.stderr


def test_the_client_from_the_wheel_updates_against_its_server(installed, tmp_path):
    server = ServerProcess(tmp_path, server_config(tmp_path / "state", listen="127.0.0.1:0"),
                           PYTHONPATH="")
    server.process = subprocess.Popen(
        [str(installed / "chipmunk-server"), "--config", str(server.config)],
        env=server.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(server.stderr_path, "ab"), cwd="/")
    try:
        server.wait_ready()
        host, port = server.addresses[0]
        config = tmp_path / "client.ini"
        config.write_text(f"[Global]\nupdate_dns = no\nstate_dir = {tmp_path}/client\n"
                          "[ChipmunkAPIServer]\nusername = alice\npassword = wonderland\n"
                          f"method = set\nendpoint = http://{host}:{port}\n")
        config.chmod(0o600)
        result = run(installed, "chipmunk-client", "--config", str(config), "once")
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "state" / "alice.cm").read_text() == "127.0.0.1\n"
    finally:
        server.stop()


def test_one_version_everywhere():
    """chipmunk.__version__ is the version: pyproject reads it, both programs
    print it, the man pages carry it; the Debian changelog's newest entry
    must say the same, and it must be newer than every recorded release."""
    from chipmunk import __version__
    newest = (REPO / "packaging" / "debian" / "changelog").read_text().splitlines()[0]
    assert newest.startswith(f"chipmunk ({__version__}) ")
    releases = [line.split() for line in (REPO / "packaging" / "releases").read_text()
                .splitlines() if line and not line.startswith("#")]
    assert releases and all(len(commit) == 40 for _, commit in releases)

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split("."))
    assert all(key(version) < key(__version__) for version, _ in releases)
