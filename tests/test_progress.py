"""The load's progress line under a real pseudo-terminal of 80 and 200 columns, and Ctrl-C during a load.

A small terminal model (deferred auto-wrap as xterm does it, CR, LF, ``ESC [K``)
replays what ``oor load`` wrote: after the load only the summary may be on the
screen -- no stray lines from redraws, whatever the width and the path length --
and every frame fits the width and shows percentage, sets, rate and ETA.
Ctrl-C (SIGINT) must end the load with one line saying what was committed, exit
130, and leave a file that checks clean and holds exactly that many sets.
"""
import fcntl
import os
import re
import select
import signal
import struct
import sys
import termios
import time

import pytest

import oor

pty = pytest.importorskip("pty")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG_DIR = "a folder with a rather long name/and another level of folders that holds the catalogs"


def spawn(args, columns, cwd):
    """Start `python -m oor ARGS` on a new pseudo-terminal of `columns` columns; returns (pid, master fd)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OOR_PROGRESS_DELAY="0",
               OOR_PROGRESS_INTERVAL="0.005", COLUMNS=str(columns))
    pid, fd = pty.fork()
    if pid == 0:                                        # child: the terminal is its stdin/stdout/stderr
        try:
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "oor", *args], env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return pid, fd


def read_all(fd, until=None, timeout=120):
    """Bytes from the terminal until EOF (or until `until(data)` is true)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 1.0)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:                                 # EIO: the child closed the terminal
            break
        if not chunk:
            break
        data += chunk
        if until is not None and until(data):
            break
    return data


def screen(data, columns):
    """The rows a terminal of `columns` columns shows after `data` (auto-wrap deferred to the next character)."""
    rows, row, col, pending = [[]], 0, 0, False
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":
            m = re.match(r"\x1b\[([0-9;]*)([A-Za-z])", text[i:])
            assert m, f"unexpected escape {text[i:i + 8]!r}"
            if m.group(2) == "K":
                del rows[row][col:]
            i += m.end()
            continue
        if ch == "\r":
            col, pending = 0, False
        elif ch == "\n":
            row, col, pending = row + 1, 0, False
        elif ch >= " ":
            if pending:
                row, col, pending = row + 1, 0, False
            while len(rows) <= row:
                rows.append([])
            line = rows[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
            if col == columns:
                col, pending = columns - 1, True
        while len(rows) <= row:
            rows.append([])
        i += 1
    return ["".join(r) for r in rows]


def frames(data):
    """The progress frames drawn: text between a CR and the ESC [K that ends it."""
    return [f for f in re.findall(r"\r([^\r\n\x1b]*)\x1b\[K", data.decode("utf-8", "replace")) if f]


@pytest.fixture(scope="module")
def long_paths(data, tmp_path_factory):
    base = tmp_path_factory.mktemp("progress")
    d = base / LONG_DIR
    d.mkdir(parents=True)
    for name in ("catalog-2022-01.3le", "catalog-2022-07.3le"):
        os.symlink(data / "catalogs" / name, d / name)
    return base, d


@pytest.mark.parametrize("columns,files", [(80, 2), (200, 1)])
def test_progress_line_fits_and_leaves_no_debris(long_paths, columns, files):
    base, d = long_paths
    db = base / f"p{columns}.oor"
    names = ["catalog-2022-01.3le", "catalog-2022-07.3le"][:files]
    pid, fd = spawn(["load", *(str(d / n) for n in names), "--db", str(db)], columns, base)
    out = read_all(fd)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out[-500:]
    shown = [r for r in screen(out, columns) if r.strip()]
    summary = "".join(shown).rstrip()
    label, n = ("2 files", "48,071") if files == 2 else (re.escape(str(d / names[0])), "23,939")
    assert re.fullmatch(label + ": " + n + r" inserted, 0 updated, 0 unchanged, 0 rejected in [0-9.]+ s "
                        r"\([0-9,]+ sets/s\)", summary), shown          # the summary, and nothing else
    drawn = frames(out)
    assert len(drawn) >= 3, out[:300]
    for f in drawn:
        assert len(f) <= columns - 1, (len(f), f)       # never reaches the last column: never wraps
        m = re.search(r" ([0-9]+)%  ([0-9,]+) sets  [0-9,]+ sets/s  ETA [0-9:]+$", f)
        assert m, f                                     # percentage, count, rate and ETA, even at 80 columns
        assert int(m.group(1)) <= 99                    # 100 % only once everything is committed
        assert "catalog-2022-0" in f
        if files == 2:
            assert f.startswith(("[1/2] ", "[2/2] "))
        else:
            assert f.startswith(str(d / names[0])) or "..." in f.split("  ")[0]
    if files == 2:
        assert any(f.startswith("[2/2] ") for f in drawn)   # totals across both files
    counts = [int(re.search(r"([0-9,]+) sets ", f).group(1).replace(",", "")) for f in drawn]
    assert counts == sorted(counts) and counts[-1] > (24_000 if files == 2 else 10_000)


def test_ctrl_c_says_what_was_committed_and_leaves_the_file_clean(long_paths):
    base, d = long_paths
    db = base / "interrupted.oor"
    pid, fd = spawn(["load", str(d / "catalog-2022-07.3le"), "--db", str(db)], 120, base)

    def past_first_commit(data):
        counts = re.findall(rb"([0-9,]+) sets ", data)
        return bool(counts) and int(counts[-1].replace(b",", b"")) >= 12_000
    out = read_all(fd, until=past_first_commit)
    assert past_first_commit(out), out[-300:]
    os.kill(pid, signal.SIGINT)
    out += read_all(fd)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130, out[-500:]
    shown = [r.rstrip() for r in screen(out, 120) if r.strip()]
    text = " ".join(shown)
    assert len(re.findall(r"oor: interrupted", text)) == 1, shown
    m = re.search(r"oor: interrupted: ([0-9,]+) element sets committed \(", text)
    assert m, shown
    committed = int(m.group(1).replace(",", ""))
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    with oor.open(db, create=False, read_only=True) as reg:
        assert reg.check() == []
        assert reg.stats()["element_sets"] == committed >= 10_000
