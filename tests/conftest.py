"""Shared fixtures: where the real data lives, and seeds.

Real catalogs are read in place from ``../shared/data`` (or ``$OOR_DATA``);
they are never copied into the project.  Outside CI a test that needs them
skips when they are absent; under CI (``CI=true``) that is a failure.

Strict mode: the model-based and crash tests run with ``OOR_VERIFY=1`` (every
commit checks the pool and the trees it changed, ``oor/verify.py``): every test
of the modules in ``VERIFY_MODULES`` and every test marked ``verify``.  The
variable is set for the test's duration, so the child processes it starts
inherit it.  ``OOR_VERIFY=1 pytest`` runs the whole suite strict, ``OOR_VERIFY=0`` none of it.
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


def first_catalog_sets(data, k):
    """The first k ElementSets of the real catalog catalog-2022-07.3le (seed material for synthetic registries)."""
    from oor.codec import read_elements
    out = []
    for es in read_elements(str(data / "catalogs" / "catalog-2022-07.3le")):
        out.append(es)
        if len(out) == k:
            break
    return out


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


VERIFY_MODULES = {"test_registry_model", "test_powerloss"}


@pytest.fixture(autouse=True)
def _strict_mode(request, monkeypatch):
    """OOR_VERIFY=1 for the model-based and crash tests (VERIFY_MODULES, @pytest.mark.verify)."""
    if os.environ.get("OOR_VERIFY") == "0":
        return                     # OOR_VERIFY=0 pytest: strict mode off everywhere (timing comparisons)
    if request.module.__name__ in VERIFY_MODULES or request.node.get_closest_marker("verify") is not None:
        monkeypatch.setenv("OOR_VERIFY", "1")


def strict():
    """True when the running test is in strict mode (OOR_VERIFY set): tests check more often then."""
    return os.environ.get("OOR_VERIFY", "") not in ("", "0")


def soak():
    """True when long campaigns were asked for (OOR_SOAK=1)."""
    return os.environ.get("OOR_SOAK", "") not in ("", "0")
