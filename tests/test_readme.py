"""Every example in README.md runs as printed (the guide's rule): the quick start's load and get, each
`oor` command line of the tour, and the Python snippet, in a scratch folder beside ../shared."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def _blocks(lang):
    """The fenced code blocks of README.md whose info string is lang ("" for plain output blocks)."""
    out, cur, info = [], None, None
    for line in open(README, encoding="utf-8").read().splitlines():
        if line.startswith("```"):
            if cur is None:
                cur, info = [], line[3:].strip()
            else:
                if info == lang:
                    out.append("\n".join(cur) + "\n")
                cur = None
        elif cur is not None:
            cur.append(line)
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, data):
    """A folder `proj/` whose `../shared/data` is the real data, as from the project root."""
    base = tmp_path_factory.mktemp("readme")
    (base / "shared").mkdir()
    os.symlink(data, base / "shared" / "data")
    proj = base / "proj"
    proj.mkdir()
    return proj


def _oor(args, cwd, env=None):
    exe = shutil.which("oor")
    cmd = [exe] if exe else [sys.executable, "-m", "oor"]
    env = dict(os.environ if env is None else env,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(cmd + args, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def _commands(block, env=None):
    """The argument lists of the `oor ...` commands of a shell block (quotes, ';' and comments as sh reads them);
    ``export NAME=VALUE`` lines go into env."""
    for line in block.splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=";")
        lex.commenters = "#"
        lex.whitespace_split = True
        cmd = []
        for tok in list(lex) + [";"]:
            if tok == ";":
                if cmd and cmd[0] == "oor":
                    yield cmd[1:]
                elif cmd and cmd[0] == "export" and env is not None:
                    for assignment in cmd[1:]:
                        name, _, value = assignment.partition("=")
                        env[name] = value
                cmd = []
            else:
                cmd.append(tok)


def test_quick_start_prints_what_the_readme_shows(scratch):
    first = _blocks("sh")[0]
    chain = [c.strip() for c in first.split("&&")]
    assert chain[0].startswith("pip install"), "the quick start begins with the install"
    outputs = []
    for c in chain[1:]:
        assert c.startswith("oor "), c
        p = _oor(shlex.split(c)[1:], scratch)
        assert p.returncode == 0, (c, p.stderr)
        outputs.append(p.stdout)
    shown = _blocks("")[0].splitlines()
    got = "".join(outputs).splitlines()
    # the load summary carries a time and a rate: compare its shape, and the rest byte for byte
    number = re.compile(r"in [0-9.]+ s \([0-9,]+ sets/s\)")
    assert number.sub("in T", got[0]) == number.sub("in T", shown[0]), (got[0], shown[0])
    assert got[1:] == shown[1:]


def test_every_command_of_the_tour_runs(scratch):
    if not os.path.exists(scratch / "catalog.oor"):
        test_quick_start_prints_what_the_readme_shows(scratch)
    ran = 0
    env = {k: v for k, v in os.environ.items() if k != "OOR_DB"}
    for block in _blocks("sh")[1:]:
        for args in _commands(block, env):
            if args and args[0] in ("load",) and "--db" not in args and "OOR_DB" not in env:
                continue
            p = _oor(args, scratch, env)
            assert p.returncode == 0, (args, p.stdout[-500:], p.stderr[-500:])
            ran += 1
    assert ran >= 6


def test_python_snippets_run(scratch):
    if not os.path.exists(scratch / "catalog.oor"):
        test_quick_start_prints_what_the_readme_shows(scratch)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    blocks = _blocks("python")
    assert len(blocks) >= 2
    for code in blocks:                       # every Python block, in order
        p = subprocess.run([sys.executable, "-c", code], cwd=scratch, capture_output=True, text=True, env=env,
                           timeout=300)
        assert p.returncode == 0, (code, p.stderr)
        assert "None" not in p.stdout, f"an example that prints None shows nothing: {p.stdout}"
        assert "False" not in p.stdout, f"an example's check failed: {p.stdout}"
