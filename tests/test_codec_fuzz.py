"""Issue 14: every reader on mutated and truncated real input.  Every outcome is a set, a counted rejection
(a TLEParseError with the file and a line), or one clear error; never another exception.  The default run is
bounded in time; OOR_SOAK=1 runs many more examples."""
import io
import os

from hypothesis import HealthCheck, given, settings, strategies as st

from oor import TLEParseError
from oor.codec import format_elements, read_elements

SOAK = os.environ.get("OOR_SOAK") == "1"
SETTINGS = settings(max_examples=2000 if SOAK else 60, derandomize=not SOAK, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_TEXT = {}


def texts():
    if not _TEXT:
        import conftest
        folder = conftest.data_dir()
        sets = list(read_elements(folder / "omm" / "iridium-2023-10-26.3le"))[:6] if folder else []
        raw = (folder / "omm" / "iridium-2023-10-26.3le").read_bytes()[:1200] if folder else b""
        _TEXT.update({"tle": raw, **{f: format_elements(sets, f).encode() for f in ("xml", "json", "csv", "kvn")}})
    return _TEXT


@SETTINGS
@given(st.sampled_from(["tle", "xml", "json", "csv", "kvn"]), st.data())
def test_mutated_input_gives_sets_rejections_or_one_clear_error(fmt, data):
    base = texts().get(fmt)
    if not base:
        return
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        pos = data.draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "flip" and buf:
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "delete":
            del buf[pos:pos + data.draw(st.integers(1, 40))]
        elif op == "insert":
            buf[pos:pos] = data.draw(st.sampled_from([b"\r", b"\n", b"<", b"&", b"{", b"[", b"\x00", b",", b"=",
                                                      b"\xe9", b"#", b'"', b"1 ", b"2 "]))
        else:
            del buf[pos:]
    name = f"fuzz.{fmt}"
    for strict in (False, True):
        src = io.BytesIO(bytes(buf))
        src.name = name
        reader = read_elements(src, fmt if data.draw(st.booleans()) else "auto",
                               errors="strict" if strict else "collect")
        try:
            sets = list(reader)
        except TLEParseError as err:
            assert err.file == name      # one clear error for the file (strict: the first bad set)
            continue
        for err in reader.errors:
            assert isinstance(err, TLEParseError) and err.file == name
        assert len(sets) <= len(base)
