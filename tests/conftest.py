"""Shared fixtures: where the real data lives, and seeds.

Real catalogs are read in place from ``../shared/data`` (or ``$OOR_DATA``);
they are never copied into the project.  Outside CI a test that needs them
skips when they are absent; under CI (``CI=true``) that is a failure.
"""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def data_dir():
    """The real-data folder, or None when it is absent."""
    env = os.environ.get("OOR_DATA")
    path = pathlib.Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def data():
    """Path of ../shared/data; skip (or fail under CI) when it is missing."""
    path = data_dir()
    if path is None:
        msg = "real data folder not found (set OOR_DATA or place shared/data beside the project)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def soak():
    """True when long campaigns were asked for (OOR_SOAK=1)."""
    return os.environ.get("OOR_SOAK", "") not in ("", "0")
