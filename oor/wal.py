"""The write-ahead log: records, LSNs, segment files, group commit.  Format owner.

Who may import: oor.storage (appends, flushes, truncation), oor.recovery
(scans, reads by LSN), tests.

Files.  ``<db>-wal/`` holds numbered segment files ``<start LSN, 16 hex
digits>.wal``.  An LSN is a record's byte position in the endless log stream;
a segment starting at LSN S holds the stream bytes from S on, after its
32-byte header.  The first LSN of a new log is 4096 (so 0 can mean "none").
Byte order: little-endian throughout.

Segment header:
  OFFSET SIZE DESCRIPTION
  0      8    magic b"OORWAL\\x00\\x01"
  8      8    start LSN (u64), equal to the number in the file name
  16     12   reserved, zero
  28     4    CRC32C of bytes 0..27

Record:
  OFFSET SIZE DESCRIPTION
  0      4    CRC32C of bytes 4 .. length-1
  4      4    length: bytes of the whole record, header included (>= 36)
  8      8    LSN of this record
  16     8    transaction id (0 for checkpoint records)
  24     8    previous LSN of the same transaction (0 = first)
  32     1    type: BEGIN 1, UPDATE 2, COMMIT 3, ABORT 4, END 5, CLR 6,
              CKPT_BEGIN 7, CKPT_END 8, UNLOGGED 9
  33     3    reserved, zero
  36     ...  payload (below)

Payloads:
  BEGIN, COMMIT, ABORT, END, CKPT_BEGIN: empty.
  UPDATE: a page list.   CLR: u64 undo-next LSN, then a page list.
  UNLOGGED: u32 count, then count u32 page ids: pages a bulk build wrote without
            logging their contents; the transaction makes them durable in the data
            file before its COMMIT.  Redo drops its copy of each (the file's is newer);
            the next logged change to such a page is a full image.
  CKPT_END: u64 LSN of its CKPT_BEGIN, then UTF-8 JSON
            {"txns": {txid: [first_lsn, last_lsn]}} of the transactions active at BEGIN.
  page list: u16 page count, then per page
            u32 page id | u8 kind | u8 0 | u16 range count, then by kind:
            0 (byte ranges): per range u16 offset | u16 length | old bytes | new bytes
            1 (full image):  the 4096-byte page after the change, then per range
                             u16 offset | u16 length | old bytes (the new bytes are in the image)
            2 (new page):    the 4096-byte page after the change; range count 0 (a page new at
                             the end of the file needs no undo: undoing the header's page count
                             makes it unreachable)
  Offsets are >= 16: the checksum, page id and LSN fields are never logged;
  redo stamps the record's LSN.  A full image is written for the first change
  to a page after each CKPT_BEGIN (torn-page repair, invariant 6).

A record is valid if and only if:
  1. its 36-byte header lies inside the segment and length >= 36 and the
     whole record lies inside the segment;
  2. its CRC32C matches and its LSN equals its position in the stream;
  3. its type is one of the nine above and its payload decodes exactly.
The reader stops at the first invalid record (a torn tail) and, when opening
the log for writing, overwrites what follows with zeros and removes any later
segment.  Segments are preallocated with zeros (a MiB at a time) so that a
commit's fsync does not change the file's size.
"""
import bisect
import collections
import json
import os
import struct
import threading

from oor_core import walscan as _walscan
from oor_core.checksum import crc32c
from oor_core.errors import OorError

__all__ = ["WAL", "Record", "PageChange", "encode_pages", "decode_pages",
           "BEGIN", "UPDATE", "COMMIT", "ABORT", "END", "CLR", "CKPT_BEGIN", "CKPT_END"]

BEGIN, UPDATE, COMMIT, ABORT, END, CLR, CKPT_BEGIN, CKPT_END, UNLOGGED = range(1, 10)
TYPE_NAMES = {BEGIN: "BEGIN", UPDATE: "UPDATE", COMMIT: "COMMIT", ABORT: "ABORT", END: "END",
              CLR: "CLR", CKPT_BEGIN: "CKPT_BEGIN", CKPT_END: "CKPT_END", UNLOGGED: "UNLOGGED"}

SEG_MAGIC = b"OORWAL\x00\x01"
SEG_HEADER = 32
REC_HEADER = 36
FIRST_LSN = 4096
BUF_LIMIT = 1 << 20          # bytes of log kept in memory before they are written (not synced)
PREALLOC = 1 << 20           # zeros written ahead of the records, a MiB at a time (at most a segment)
PAGE_SIZE = 4096

_HDR = struct.Struct("<IIQQQB3x")
_SEG = struct.Struct("<8sQ12x")
_PAGE = struct.Struct("<IBxH")
_RANGE = struct.Struct("<HH")
_U64 = struct.Struct("<Q")

Record = collections.namedtuple("Record", "lsn txid prev_lsn type payload length")
Record.end = property(lambda r: r.lsn + r.length)
# One page's change in an UPDATE or CLR: image (bytes or None) and [(offset, old, new)].
PageChange = collections.namedtuple("PageChange", "page_id image ranges")


class WalError(OorError):
    """The log cannot be written or read (I/O error, full disk, foreign file)."""


def encode_pages(changes):
    """Page list payload from [(page_id, image or None, ranges [(offset, old, new)] or None)].

    image with ranges None: a new page (kind 2); image with ranges: kind 1; no image: kind 0.
    """
    parts = [struct.pack("<H", len(changes))]
    for page_id, image, ranges in changes:
        if image is None:
            parts.append(_PAGE.pack(page_id, 0, len(ranges)))
            for off, old, new in ranges:
                parts.append(_RANGE.pack(off, len(new)))
                parts.append(old)
                parts.append(new)
        elif ranges is None:
            parts.append(_PAGE.pack(page_id, 2, 0))
            parts.append(image)
        else:
            parts.append(_PAGE.pack(page_id, 1, len(ranges)))
            parts.append(image)
            for off, old, new in ranges:
                parts.append(_RANGE.pack(off, len(old)))
                parts.append(old)
    return b"".join(parts)


def decode_pages(payload, start=0):
    """[PageChange] from a page list payload (raises ValueError when malformed).

    ranges are (offset, old, new) for every kind (new taken from the image for kind 1;
    none for a new page).
    """
    mv = memoryview(payload)
    (n,) = struct.unpack_from("<H", mv, start)
    pos = start + 2
    out = []
    for _ in range(n):
        page_id, kind, nr = _PAGE.unpack_from(mv, pos)
        pos += _PAGE.size
        image = None
        if kind in (1, 2):
            image = bytes(mv[pos:pos + PAGE_SIZE])
            if len(image) != PAGE_SIZE:
                raise ValueError("truncated page image")
            pos += PAGE_SIZE
            if kind == 2 and nr:
                raise ValueError("a new-page change carries no ranges")
        elif kind != 0:
            raise ValueError(f"unknown page change kind {kind}")
        ranges = []
        for _ in range(nr):
            off, ln = _RANGE.unpack_from(mv, pos)
            pos += 4
            if off < 16 or off + ln > PAGE_SIZE:
                raise ValueError(f"range [{off}, {off + ln}) outside the page body")
            old = bytes(mv[pos:pos + ln])
            pos += ln
            if kind == 0:
                new = bytes(mv[pos:pos + ln])
                pos += ln
            else:
                new = image[off:off + ln]
            if len(old) != ln or len(new) != ln:
                raise ValueError("truncated range")
            ranges.append((off, old, new))
        out.append(PageChange(page_id, image, ranges))
    if pos != len(mv):
        raise ValueError(f"{len(mv) - pos} stray bytes after the page list")
    return out


def _seg_name(lsn):
    return f"{lsn:016x}.wal"


class WAL:
    """The log of one database.  Thread-safe: appends under a lock; flushes use group commit.

    ``WAL(dirpath, vfs)`` then ``open()`` (validates, truncates a torn tail and
    positions the end) before any ``append``.
    """

    def __init__(self, dirpath, vfs, segment_bytes=16 << 20, read_only=False):
        self.dir = dirpath
        self.vfs = vfs
        self.segment_bytes = segment_bytes
        self.read_only = read_only
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.segments = []          # sorted start LSNs
        self.files = {}             # start LSN -> open file (current segment, and read handles)
        self.buf = bytearray()      # appended, not yet written
        self.buf_lsn = FIRST_LSN    # LSN of buf[0]
        self.next_lsn = FIRST_LSN
        self.durable_lsn = FIRST_LSN   # everything below is on stable storage
        self.flushing = False
        self.failed = None          # the exception that broke the log; appends refuse after it
        self.fsyncs = 0
        self.bytes_written = 0
        self.opened = False
        self._cache = {}
        self.zeroed_to = 0          # file offset up to which the current segment holds zeros or records
        self.prealloc = min(PREALLOC, segment_bytes)

    # ---- opening and scanning ------------------------------------------------------
    def _path(self, start):
        return os.path.join(self.dir, _seg_name(start))

    def _file(self, start):
        f = self.files.get(start)
        if f is None:
            f = self.files[start] = self.vfs.open(self._path(start), create=False)
        return f

    def _list(self):
        starts = []
        for name in self.vfs.listdir(self.dir):
            if name.endswith(".wal") and len(name) == 20:
                try:
                    starts.append(int(name[:16], 16))
                except ValueError:
                    continue
        return sorted(starts)

    def open(self, cache=False):
        """Validate the kept segments, cut a torn tail (unless read-only) and position the end of the log.

        Call before scanning or appending (idempotent).  Returns the end LSN.
        cache=True keeps the segment bytes just read for the recovery passes
        that follow (saving two more reads of the log); drop_cache() frees them.
        """
        if self.opened:
            return self.next_lsn
        if not self.read_only:
            self.vfs.makedirs(self.dir)
        segs = self._list()
        end = None
        keep = []
        for s in segs:
            f = self._file(s)
            head = f.pread(SEG_HEADER, 0)
            ok = len(head) == SEG_HEADER
            if ok:
                magic, start = _SEG.unpack_from(head, 0)
                ok = magic == SEG_MAGIC and start == s and \
                    struct.unpack_from("<I", head, 28)[0] == crc32c(head[:28])
            if not ok or (end is not None and s != end):
                break               # a torn segment header, or a gap: the log ends before it
            keep.append(s)
            size = f.size()
            mapped = f.map() if cache and size > SEG_HEADER and hasattr(f, "map") else None
            if mapped is not None:
                body = memoryview(mapped)[SEG_HEADER:]      # no copy: the page cache, read in place
            else:
                body = f.pread(size - SEG_HEADER, SEG_HEADER) if size > SEG_HEADER else b""
            valid = _walscan.valid_length(body, s)
            end = s + valid
            self.zeroed_to = size
            clean = _walscan.is_zero(body, valid)     # only preallocated zeros after the records
            if cache:
                self._cache[s] = (memoryview(body)[:valid], body, mapped)
            elif mapped is not None:
                body.release()
                mapped.close()
            if not clean:
                # The log ends here: a torn tail.  It is overwritten with zeros, so no
                # stale record can ever join the log again.  (The next segment, if any,
                # must start where the records end, else the log ends there too.)
                if not self.read_only:
                    f.pwrite(bytes(size - SEG_HEADER - valid), SEG_HEADER + valid)
                    f.fsync()
                break
        for s in segs:
            if s not in keep and not self.read_only:
                f = self.files.pop(s, None)
                if f is not None:
                    f.close()
                self.vfs.remove(self._path(s))
        if len(keep) < len(segs) and not self.read_only:
            self.vfs.sync_dir(self.dir)
        self.segments = keep
        if end is None:
            end = FIRST_LSN
        self.next_lsn = self.buf_lsn = self.durable_lsn = end
        self.opened = True
        return end

    def bodies(self, start_lsn=None):
        """Yield (segment start LSN, bytes of its written records) from the segment holding start_lsn on."""
        self.open()
        segs = list(self.segments)
        for i, s in enumerate(segs):
            nxt = segs[i + 1] if i + 1 < len(segs) else None
            if start_lsn is not None and nxt is not None and nxt <= start_lsn:
                continue
            limit = (nxt if nxt is not None else self.buf_lsn) - s
            cached = self._cache.get(s)
            if cached is not None and len(cached[0]) == limit:
                yield s, cached[0]
            else:
                yield s, self._file(s).pread(limit, SEG_HEADER)

    def sync_file(self):
        """fsync the current segment (after open: makes the whole kept log durable; rotation
        synced the earlier segments)."""
        if self.segments:
            self._sync_segment(self.segments[-1])

    def drop_cache(self):
        for view, body, mapped in self._cache.values():
            if mapped is not None:
                view.release()
                body.release()
                mapped.close()
        self._cache.clear()

    def scan(self, start_lsn=None):
        """Yield every record from start_lsn (default: the oldest kept) to the end of the log, buffer included."""
        for s, body in self.bodies(start_lsn):
            mv = memoryview(body)
            pos = start_lsn - s if start_lsn is not None and start_lsn > s else 0
            while pos + REC_HEADER <= len(mv):
                crc, length, lsn, txid, prev, rtype = _HDR.unpack_from(mv, pos)
                yield Record(lsn, txid, prev, rtype, bytes(mv[pos + REC_HEADER:pos + length]), length)
                pos += length
        yield from self._buffer_records(start_lsn)

    def start_at(self, lsn):
        """Begin an empty log at lsn (a log whose directory was lost).  Before any append."""
        assert not self.segments and self.opened
        self.next_lsn = self.buf_lsn = self.durable_lsn = max(lsn, FIRST_LSN)

    def _buffer_records(self, start_lsn):
        with self.lock:
            data = bytes(self.buf)
            base = self.buf_lsn
        pos = 0
        mv = memoryview(data)
        while pos + REC_HEADER <= len(data):
            crc, length, lsn, txid, prev, rtype = _HDR.unpack_from(mv, pos)
            if start_lsn is None or lsn >= start_lsn:
                yield Record(lsn, txid, prev, rtype, bytes(mv[pos + REC_HEADER:pos + length]), length)
            pos += length
        assert base + pos == base + len(data)

    def read(self, lsn):
        """The record at lsn (random access, for undo).  Raises WalError if it is not a valid record."""
        with self.lock:
            if lsn >= self.buf_lsn:
                off = lsn - self.buf_lsn
                if off + REC_HEADER > len(self.buf):
                    raise WalError(f"no log record at LSN {lsn}")
                crc, length, rlsn, txid, prev, rtype = _HDR.unpack_from(self.buf, off)
                return Record(rlsn, txid, prev, rtype, bytes(self.buf[off + REC_HEADER:off + length]), length)
        i = bisect.bisect_right(self.segments, lsn) - 1
        if i < 0:
            raise WalError(f"LSN {lsn} lies before the oldest kept log segment")
        s = self.segments[i]
        f = self._file(s)
        head = f.pread(REC_HEADER, SEG_HEADER + lsn - s)
        if len(head) < REC_HEADER:
            raise WalError(f"no log record at LSN {lsn}")
        crc, length, rlsn, txid, prev, rtype = _HDR.unpack_from(head, 0)
        if rlsn != lsn or length < REC_HEADER:
            raise WalError(f"no log record at LSN {lsn}")
        body = f.pread(length - REC_HEADER, SEG_HEADER + lsn - s + REC_HEADER)
        if len(body) != length - REC_HEADER or crc32c(head[4:] + body) != crc:
            raise WalError(f"log record at LSN {lsn} is damaged")
        return Record(rlsn, txid, prev, rtype, body, length)

    # ---- appending and flushing ----------------------------------------------------------
    def append(self, rtype, txid, prev_lsn, payload=b""):
        """Add a record to the log buffer; returns (lsn, end_lsn).  Not durable until flush(end_lsn)."""
        if self.failed is not None:
            raise WalError(f"{self.dir}: the log failed earlier ({self.failed}); reopen the database")
        length = REC_HEADER + len(payload)
        if length > 0xFFFFFFFF:
            raise WalError("log record larger than 4 GiB")
        with self.lock:
            if not self.segments or self.next_lsn - self.segments[-1] >= self.segment_bytes:
                self._rotate_locked()
            lsn = self.next_lsn
            _walscan.append_record(self.buf, rtype, txid, prev_lsn, lsn, payload)
            self.next_lsn = lsn + length
            if len(self.buf) >= BUF_LIMIT and not self.flushing:
                # a long transaction: hand its records to the OS now (no fsync), so memory
                # stays bounded whatever the transaction's size
                self._write_locked(bytes(self.buf), self.buf_lsn)
                self.buf_lsn = self.next_lsn
                self.buf.clear()
            return lsn, self.next_lsn

    def _rotate_locked(self):
        """Start a new segment at next_lsn (the old one is written and synced first)."""
        while self.flushing:
            self.cond.wait()
        if self.buf:
            self._write_locked(bytes(self.buf), self.buf_lsn)
            self.buf.clear()
            self.buf_lsn = self.next_lsn
        if self.segments:
            self._sync_segment(self.segments[-1])
            self.durable_lsn = self.next_lsn
        start = self.next_lsn
        f = self.vfs.open(self._path(start), create=True)
        head = bytearray(_SEG.pack(SEG_MAGIC, start))
        head[28:32] = struct.pack("<I", crc32c(bytes(head[:28])))
        try:
            f.truncate(0)
            f.pwrite(bytes(head) + bytes(self.prealloc), 0)   # header, then zeros ahead of the records
            f.fsync()
            self.vfs.sync_dir(self.dir)
        except BaseException as e:
            self.failed = e
            if isinstance(e, OSError):
                raise WalError(f"{self.dir}: cannot create log segment: {e}") from e
            raise
        self.files[start] = f
        self.segments.append(start)
        self.zeroed_to = SEG_HEADER + self.prealloc
        self.fsyncs += 1

    def _room(self, s, end):
        """Make sure the current segment s holds zeros up to file offset end before records land there.

        Records then overwrite bytes the file already has, so a commit's
        fdatasync carries no file-size change (measured here: 148 us instead of
        200 us per durable append).  Zeros, not garbage, lie past the last record,
        which is also what open() leaves behind a torn tail.
        """
        if end <= self.zeroed_to:
            return
        grow = max(end - self.zeroed_to, self.prealloc)
        self._file(s).pwrite(bytes(grow), self.zeroed_to)
        self.zeroed_to += grow

    def _write_locked(self, data, lsn):
        s = self.segments[-1]
        try:
            self._room(s, SEG_HEADER + lsn - s + len(data))
            self._file(s).pwrite(data, SEG_HEADER + lsn - s)
        except BaseException as e:
            self.failed = e
            if isinstance(e, OSError):
                raise WalError(f"{self.dir}: cannot write the log: {e}") from e
            raise
        self.bytes_written += len(data)

    def _sync_segment(self, s):
        try:
            self._file(s).fsync()
        except BaseException as e:
            self.failed = e
            if isinstance(e, OSError):
                raise WalError(f"{self.dir}: cannot sync the log: {e}") from e
            raise
        self.fsyncs += 1

    def flush(self, upto=None):
        """Make the log durable up to upto (default: everything appended).  Group commit.

        Concurrent callers share one write+fsync: the first becomes the
        leader and syncs everything buffered so far; the others wait.  The
        buffer is released only after the write succeeded, so a failed flush
        loses nothing that undo may still need to read.
        """
        with self.cond:
            if upto is None:
                upto = self.next_lsn
            while self.durable_lsn < upto:
                if self.failed is not None:
                    raise WalError(f"{self.dir}: the log failed earlier ({self.failed})")
                if self.flushing:
                    self.cond.wait()
                    continue
                self.flushing = True
                n = len(self.buf)
                data = bytes(self.buf)
                start = self.buf_lsn
                target = start + n
                seg = self.segments[-1]
                self.lock.release()
                ok = False
                try:
                    if data:
                        self._room(seg, SEG_HEADER + start - seg + n)
                        self._file(seg).pwrite(data, SEG_HEADER + start - seg)
                        self.bytes_written += n
                    self._file(seg).fsync()
                    self.fsyncs += 1
                    ok = True
                except BaseException as e:
                    self.failed = e
                    if isinstance(e, OSError):
                        raise WalError(f"{self.dir}: cannot write the log: {e}") from e
                    raise
                finally:
                    self.lock.acquire()
                    self.flushing = False
                    if ok:
                        del self.buf[:n]
                        self.buf_lsn = target
                        self.durable_lsn = target
                    self.cond.notify_all()

    def write_out(self):
        """Hand buffered records to the OS without fsync (sync="normal" commits)."""
        with self.cond:
            while self.flushing:
                self.cond.wait()
            if self.buf:
                self._write_locked(bytes(self.buf), self.buf_lsn)
                self.buf_lsn += len(self.buf)
                self.buf.clear()

    # ---- truncation and closing ----------------------------------------------------
    def remove_before(self, lsn):
        """Delete segments that lie wholly below lsn (the current segment is always kept)."""
        removed = 0
        with self.lock:
            while len(self.segments) > 1 and self.segments[1] <= lsn:
                s = self.segments.pop(0)
                f = self.files.pop(s, None)
                if f is not None:
                    f.close()
                self.vfs.remove(self._path(s))
                removed += 1
        if removed:
            self.vfs.sync_dir(self.dir)
        return removed

    @property
    def first_lsn(self):
        return self.segments[0] if self.segments else self.next_lsn

    def size_bytes(self):
        return self.next_lsn - self.first_lsn

    def close(self):
        self.drop_cache()
        for f in self.files.values():
            try:
                f.close()
            except OSError:
                pass
        self.files.clear()


def encode_ckpt_end(begin_lsn, txns):
    return _U64.pack(begin_lsn) + json.dumps({"txns": {str(k): v for k, v in txns.items()}}).encode()


def decode_ckpt_end(payload):
    (begin,) = _U64.unpack_from(payload, 0)
    body = json.loads(bytes(payload[8:]).decode())
    return begin, {int(k): tuple(v) for k, v in body["txns"].items()}
