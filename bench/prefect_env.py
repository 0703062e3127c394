"""Prefect 3 in a virtual environment of its own, for side-by-side benchmarks.

Created once and cached in ``.bench/prefect-venv`` (ignored by git). ``prefect==3.9.1`` pins a
``certifi`` newer than the registry here holds, so it is installed without dependencies after
its other requirements; if that fails, the newest earlier 3.x that installs is used instead.
``prefect_python()`` returns the environment's interpreter, or ``None`` and the reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ("PREFECT_VERSION", "VENV_DIR", "PrefectEnv", "prefect_environ", "prefect_python")

PREFECT_VERSION = "3.9.1"
FALLBACK_SPEC = "prefect>=3.0,<3.9.1"
ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".bench"
VENV_DIR = CACHE_DIR / "prefect-venv"
_READY = VENV_DIR / "proctor-bench-ready.json"
_LOG = CACHE_DIR / "prefect-install.log"
_PIP_TIMEOUT_S = 1200
_RELAXED = {"certifi"}  # pinned newer than the registry holds; any version works for us


@dataclass(frozen=True, slots=True)
class PrefectEnv:
    """Where Prefect's interpreter is, or why there is none."""

    python: Path | None
    version: str | None = None
    reason: str = ""


class _InstallFailed(Exception):
    pass


def prefect_python(*, install: bool = True) -> PrefectEnv:
    """The Prefect virtualenv's interpreter, creating the environment on first use."""
    ready = _read_ready()
    if ready is not None:
        return ready
    if not install:
        return PrefectEnv(None, reason=f"not installed in {VENV_DIR} (run without --no-install)")
    CACHE_DIR.mkdir(exist_ok=True)
    with (CACHE_DIR / "prefect-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another bench run may be installing right now
        ready = _read_ready()
        if ready is not None:
            return ready
        try:
            version = _install()
        except _InstallFailed as error:
            return PrefectEnv(None, reason=f"{error} (log: {_LOG})")
        _READY.write_text(json.dumps({"version": version}))
        return PrefectEnv(_python(), version)


_EPHEMERAL_START_S = 120


def prefect_environ(home: Path) -> dict[str, str]:
    """Environment for a Prefect process: a private PREFECT_HOME, no analytics, no API URL.

    Without ``PREFECT_API_URL`` Prefect starts its ephemeral local server, as a user's first
    script would; it may take up to ``_EPHEMERAL_START_S`` to start (Prefect's default, 20 s,
    is too short for a slow machine's first start: migrations run then).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PROCTOR_"))}
    env.pop("VIRTUAL_ENV", None)
    env["PREFECT_HOME"] = str(home)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["DO_NOT_TRACK"] = "1"
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = str(_EPHEMERAL_START_S)
    return env


def _python() -> Path:
    return VENV_DIR / "bin" / "python"


def _read_ready() -> PrefectEnv | None:
    if not (_READY.exists() and _python().exists()):
        return None
    version = json.loads(_READY.read_text())["version"]
    return PrefectEnv(_python(), str(version))


def _run(*args: str) -> str:
    with _LOG.open("a") as log:
        log.write(f"$ {' '.join(args)}\n")
        log.flush()
        try:
            done = subprocess.run(
                args, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise _InstallFailed(f"timed out after {_PIP_TIMEOUT_S} s: {' '.join(args)}") from None
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise _InstallFailed(lines[-1] if lines else f"exit status {done.returncode}")
    return done.stdout


def _fresh_venv() -> None:
    shutil.rmtree(VENV_DIR, ignore_errors=True)
    _run(sys.executable, "-m", "venv", str(VENV_DIR))
    _run(str(_python()), "-m", "pip", "install", "-q", "--upgrade", "pip")


def _pip(*args: str) -> None:
    _run(str(_python()), "-m", "pip", "install", "-q", *args)


def _requirements() -> list[str]:
    """Prefect's own requirements (no extras), with the over-tight pins relaxed."""
    script = "import importlib.metadata as m, json; print(json.dumps(m.requires('prefect')))"
    found: list[str] = json.loads(_run(str(_python()), "-c", script))
    wanted = []
    for requirement in found:
        marker = requirement.partition(";")[2]
        if "extra ==" in marker:
            continue
        name = requirement.split(";")[0].strip()
        bare = name.split("[")[0]
        for separator in "<>=!~ (":
            bare = bare.split(separator)[0]
        wanted.append(bare if bare.lower() in _RELAXED else requirement)
    return wanted


def _version() -> str:
    script = "import prefect; print(prefect.__version__)"
    return _run(str(_python()), "-c", script).strip()


def _install() -> str:
    _LOG.write_text("")
    first_error: _InstallFailed | None = None
    try:
        _fresh_venv()
        _pip("--no-deps", f"prefect=={PREFECT_VERSION}")
        _pip(*_requirements())
        return _version()
    except _InstallFailed as error:
        first_error = error
    try:
        _fresh_venv()
        _pip(FALLBACK_SPEC)
        return _version()
    except _InstallFailed as error:
        shutil.rmtree(VENV_DIR, ignore_errors=True)
        raise _InstallFailed(
            f"prefect=={PREFECT_VERSION} failed ({first_error}); {FALLBACK_SPEC!r} failed ({error})"
        ) from None
