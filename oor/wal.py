"""The write-ahead log: segment files, LSNs, buffering, group commit, fsync policy.

Who may import: oor.storage (appends, flushes, truncation), oor.recovery
(scans, reads by LSN), tests.

The bytes of the log -- segment header, record framing, record types and
payloads, the validity conditions -- are owned by ``oor_core/logformat``
(byte tables at the top of logformat.pyx); this module only keeps the files.

Files.  ``<db>-wal/`` holds numbered segment files ``<start LSN, 16 hex
digits>.wal``; a segment starting at LSN S holds the log stream's bytes from S
on, after its header.  The log is the run of valid records (logformat
conditions 1-3) from the oldest kept segment on: the reader stops at the first
invalid record (a torn tail) and, when opening the log for writing, overwrites
what follows with zeros and removes any later segment.  Segments are
preallocated with zeros (a MiB at a time) so that a commit's fsync does not
change the file's size.
"""
import bisect
import os
import threading

from oor_core import logformat as LF
from oor_core import walscan as _walscan
from oor_core.errors import CorruptLogError, WalError

__all__ = ["WAL"]

SEG_HEADER = LF.SEG_HEADER_SIZE
REC_HEADER = LF.REC_HEADER_SIZE
FIRST_LSN = LF.FIRST_LSN
BUF_LIMIT = 1 << 20          # bytes of log kept in memory before they are written (not synced)
PREALLOC = 1 << 20           # zeros written ahead of the records, a MiB at a time (at most a segment)
_ZEROS = memoryview(bytes(PREALLOC))   # what _room writes (read-only, shared)


def _seg_name(lsn):
    return f"{lsn:016x}.wal"


FOLLOW_CHUNK = 64 << 10       # a reader's first read of new log; doubled while reads are all records
FOLLOW_CHUNK_MAX = 1 << 20


def _valid_chunks(f, pos, off, limit):
    """(bytes, valid length) of successive reads of a segment from body offset off (LSN pos) up to
    limit, until a read holds no more valid records; a record longer than the read is read whole.

    Why chunks: the writer preallocates its segment ahead of the records (PREALLOC zeros), and a reader
    that read up to the file's size read those zeros at every look -- 22.8 MB per reader for the 6.3 MB
    of log of bench_concurrency's quick load, most of a reader's cost of following it.  Reads now stop
    within one chunk (at most FOLLOW_CHUNK_MAX) of the last record.  Caller: WAL.follow."""
    chunk = FOLLOW_CHUNK
    while off < limit:
        n = min(limit - off, chunk)
        body = f.pread(n, SEG_HEADER + off)
        valid = _walscan.valid_length(body, pos)
        if valid == 0 and len(body) >= REC_HEADER:
            ln = LF.record_length(body)
            if n < ln <= limit - off:           # a record longer than the read: read it whole
                body = f.pread(ln, SEG_HEADER + off)
                valid = _walscan.valid_length(body, pos)
        if valid == 0:
            return
        yield body, valid
        pos += valid
        off += valid
        rest = len(body) - valid
        if rest == 0:
            chunk = min(chunk * 2, FOLLOW_CHUNK_MAX)
        elif rest >= REC_HEADER:
            # the records end inside the read: go on only when the next record was cut by the read
            ln = LF.record_length(body, valid)
            if not (ln > rest and off + ln <= limit):
                return


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
        self.on_durable = None      # called with the new durable LSN after each log fsync (the lock's hint)
        self.salvaged = None        # what open(salvage=True) dropped
        self.durable_floor = 0      # open(): the log is known durable up to here (storage sets it)
        self.salvage = False        # open(): cut at the first damage instead of refusing (oor recover --salvage)

    # ---- opening and scanning ------------------------------------------------------
    def segment_path(self, start):
        """The file of the segment starting at LSN start (for messages)."""
        return self._path(start)

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

    def open(self, cache=False, durable=0, salvage=None):
        """Validate the kept segments, cut a torn tail (unless read-only) and position the end of the log.

        Call before scanning or appending (idempotent).  Returns the end LSN.
        cache=True keeps the segment bytes just read for the recovery passes
        that follow (saving two more reads of the log); drop_cache() frees them.

        The log is checked, never guessed (invariant 14): the first invalid
        record is cut as a torn tail only if it lies at or after ``durable``
        (a point the caller knows was made durable: the durable-LSN hint, see
        oor.vfs) and no valid record follows it, in its segment or a later
        one.  Otherwise CorruptLogError names the segment and offset and the
        log is left as it was -- unless ``salvage``, which cuts there anyway
        and records what it dropped in ``self.salvaged`` (`oor recover --salvage`).
        """
        if self.opened:
            return self.next_lsn
        if self.read_only:
            # a reader beside a running writer: a checkpoint may remove the oldest segments while
            # they are being listed and read; start again (they go from the front only)
            for attempt in range(20):
                try:
                    return self._open(cache, durable, salvage)
                except FileNotFoundError:
                    self.drop_cache()
                    for f in self.files.values():
                        f.close()
                    self.files.clear()
            raise WalError(f"{self.dir}: the log keeps changing under this reader; try again")
        return self._open(cache, durable, salvage)

    def _open(self, cache, durable, salvage):
        durable = max(durable, self.durable_floor)
        salvage = self.salvage if salvage is None else salvage
        if not self.read_only:
            self.vfs.makedirs(self.dir)
        segs = self._list()
        end = None
        keep = []
        cut = None                  # (segment, valid bytes, file size): a torn tail to zero
        damage = None               # (segment, body offset, reason): the first damage found
        for i, s in enumerate(segs):
            f = self._file(s)
            head = f.pread(SEG_HEADER, 0)
            later = i + 1 < len(segs)
            if end is not None and s != end:
                damage = damage or (keep[-1], end - keep[-1],
                                    f"the log stops at LSN {end} but the next segment begins at LSN {s} "
                                    f"(a segment is missing or was cut short)")
                break
            if LF.segment_start(head, self._path(s)) != s:
                # a torn segment header: only the newest segment, before its first record
                if later or s < durable:
                    damage = damage or (s, -SEG_HEADER, "the segment header is damaged")
                break
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
            if not clean:
                # Evidence that the bad record was durable: a later segment (rotation syncs a
                # segment before the next one is created), or the durable point.  Valid records
                # later in the same segment are NOT evidence: a power cut may keep an unsynced
                # write's later sectors and lose its earlier ones (docs/durability.md).
                if later or end < durable:
                    follows = _walscan.next_valid_record(body, s, valid + 1)
                    why = ("a later segment follows it" if later else
                           f"the log was durable up to LSN {durable}")
                    if follows >= 0:
                        why += f"; valid records resume at byte offset {SEG_HEADER + follows}"
                    damage = damage or (s, valid, f"invalid record ({why})")
                else:
                    cut = (s, valid, size)
            if cache:
                self._cache[s] = (memoryview(body)[:valid], body, mapped)
            elif mapped is not None:
                body.release()
                mapped.close()
            if not clean:
                break
        if end is None:
            end = FIRST_LSN
        if damage is None and end < durable:
            why = (f"the log ends at LSN {end}, but it was durable up to LSN {durable} "
                   f"(the log was cut short or a segment is missing)")
            damage = (keep[-1], end - keep[-1], why) if keep else (None, 0, why)
        if damage is not None and not salvage:
            self.drop_cache()
            seg, off, reason = damage
            path = self._path(seg) if seg is not None else self.dir
            lsn = (seg + max(off, 0)) if seg is not None else end
            raise CorruptLogError(path, SEG_HEADER + off if seg is not None else 0, lsn, reason)
        self.salvaged = None
        if damage is not None:
            seg, off, reason = damage
            self.salvaged = {"cut_lsn": end, "reason": reason,
                             "dropped_segments": [self._path(x) for x in segs if x not in keep]}
            if keep and keep[-1] == seg and off >= 0:
                f = self._file(seg)
                size = f.size()
                if not self.read_only:        # keep the evidence beside the salvaged log
                    copy = self.vfs.open(self._path(seg) + ".damaged", create=True)
                    try:
                        copy.pwrite(f.pread(size, 0), 0)
                        copy.fsync()
                    finally:
                        copy.close()
                cut = (seg, end - seg, size)
        if cut is not None and not self.read_only:
            # A torn tail (or, salvaging, the damage): overwritten with zeros, so no stale
            # record can ever join the log again.
            s, valid, size = cut
            f = self._file(s)
            f.pwrite(bytes(size - SEG_HEADER - valid), SEG_HEADER + valid)
            f.fsync()
        for s in segs:
            if s not in keep and not self.read_only:
                f = self.files.pop(s, None)
                if f is not None:
                    f.close()
                if salvage and damage is not None:
                    self.vfs.rename(self._path(s), self._path(s) + ".damaged")
                else:
                    self.vfs.remove(self._path(s))
        if len(keep) < len(segs) and not self.read_only:
            self.vfs.sync_dir(self.dir)
        self.segments = keep
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
                rec = LF.read_record(mv, pos)
                yield rec
                pos += rec.length
        yield from self._buffer_records(start_lsn)

    def discard_all(self):
        """Remove every segment: the data file holds everything (a clean close).  Before any append."""
        assert not self.opened
        for s in self._list():
            f = self.files.pop(s, None)
            if f is not None:
                f.close()
            self.vfs.remove(self._path(s))
        self.vfs.sync_dir(self.dir)

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
            rec = LF.read_record(mv, pos)
            if start_lsn is None or rec.lsn >= start_lsn:
                yield rec
            pos += rec.length
        assert base + pos == base + len(data)

    def read(self, lsn):
        """The record at lsn (random access, for undo).  Raises WalError if it is not a valid record."""
        data = None
        with self.lock:
            if lsn >= self.buf_lsn:
                off = lsn - self.buf_lsn
                length = LF.record_length(self.buf, off)
                data = bytes(self.buf[off:off + length]) if length >= REC_HEADER else b""
        if data is None:
            i = bisect.bisect_right(self.segments, lsn) - 1
            if i < 0:
                raise WalError(f"LSN {lsn} lies before the oldest kept log segment")
            s = self.segments[i]
            try:
                f = self._file(s)
            except FileNotFoundError:
                raise WalError(f"{self.dir}: the segment holding LSN {lsn} was removed") from None
            data = f.pread(REC_HEADER, SEG_HEADER + lsn - s)
            length = LF.record_length(data)
            if length > REC_HEADER:
                data += f.pread(length - REC_HEADER, SEG_HEADER + lsn - s + REC_HEADER)
        problem = LF.record_problem(data, lsn)
        if problem is not None:
            raise WalError(f"{self.dir}: {problem}")
        return LF.read_record(data)

    def follow(self, start, upto=None):
        """Read-only (a reader process): yield the valid records from LSN start on, up to upto
        (None: as far as they are valid), picking up the segments created since the last call.

        Stops at the first record that is not (yet) valid: the writer may be writing it.
        Afterwards read() finds every record yielded.  Caller: oor.storage (reader processes).
        """
        assert self.read_only, "follow() is for read-only logs"
        segs = self._list()
        with self.lock:
            for s in list(self.files):
                if s not in segs:
                    self.files.pop(s).close()
            self.segments = segs
        pos = start
        if segs and pos < segs[0]:
            # the segments holding pos are gone: the writer removed them after a checkpoint or a
            # clean close, so the data file holds their changes (it keeps what live readers need)
            pos = segs[0]
        for j, s in enumerate(segs):
            nxt = segs[j + 1] if j + 1 < len(segs) else None
            if nxt is not None and nxt <= pos:
                continue
            if pos < s:
                break                          # a gap: the segment holding pos is gone
            try:
                f = self._file(s)
            except FileNotFoundError:
                continue                       # removed by a checkpoint since it was listed
            if s == pos and LF.segment_start(f.pread(SEG_HEADER, 0), self._path(s)) != s:
                break                          # a segment still being created
            limit = f.size() - SEG_HEADER
            if nxt is not None:
                limit = min(limit, nxt - s)
            if upto is not None:
                limit = min(limit, upto - s)
            off = pos - s
            if limit <= off:
                if nxt is not None and limit == nxt - s:
                    continue
                break
            valid = 0
            for body, valid in _valid_chunks(f, pos, off, limit):
                mv = memoryview(body)
                p = 0
                while p < valid:
                    rec = LF.read_record(mv, p)
                    yield rec
                    p += rec.length
                pos += valid
                off += valid
                with self.lock:
                    self.next_lsn = self.buf_lsn = self.durable_lsn = max(self.next_lsn, pos)
            if off < limit or nxt is None or pos != nxt:
                break

    def check(self):
        """Problems of the kept log as strings naming the file, offset and LSN (empty when clean).

        Caller: Database.check (so `oor check`).  Re-reads every kept segment from
        the disk: each segment header, each record's checksum and LSN
        (logformat conditions 1-3: the records must run without a gap from the
        oldest kept segment to the end written so far), each payload's layout
        (condition 4), and that the log holds a complete checkpoint for recovery
        to start from.
        """
        problems = []
        with self.lock:
            segs = list(self.segments)
            written = self.buf_lsn
        checkpoint = False
        for i, s in enumerate(segs):
            path = self._path(s)
            f = self._file(s)
            limit = (segs[i + 1] if i + 1 < len(segs) else written) - s
            if LF.segment_start(f.pread(SEG_HEADER, 0), path) != s:
                problems.append(f"log: {path}: byte offset 0: bad segment header")
                continue
            body = f.pread(limit, SEG_HEADER)
            valid = _walscan.valid_length(body, s)
            if valid < limit:
                problems.append(f"log: {path}: byte offset {SEG_HEADER + valid} (LSN {s + valid}): "
                                f"invalid record inside the log (checksum, length or LSN)")
        for rec in self.scan():
            problem = LF.payload_problem(rec.type, rec.payload)
            if problem is not None:
                problems.append(f"log: LSN {rec.lsn}: {problem}")
            if rec.type == LF.CKPT_END:
                checkpoint = True
        if segs and not checkpoint:
            problems.append(f"log: {self.dir}: holds no complete checkpoint (a segment is missing)")
        return problems

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
            LF.frame(self.buf, rtype, txid, prev_lsn, lsn, payload)
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
            if self.on_durable is not None:
                self.on_durable(self.durable_lsn)
        start = self.next_lsn
        f = self.vfs.open(self._path(start), create=True)
        try:
            f.truncate(0)
            f.pwrite(LF.segment_header(start) + bytes(self.prealloc), 0)   # header, then zeros ahead of the records
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
        # one shared MiB of zeros (a fresh bytes(grow) per call was a 1 MiB allocation, memset and page
        # faults each time: 3.4 GB of them in a 1M-set ingest)
        self._file(s).pwrite(_ZEROS[:grow] if grow <= PREALLOC else bytes(grow), self.zeroed_to)
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
                    if self.on_durable is not None:
                        # outside the log's lock (one leader at a time keeps the hint rising):
                        # appenders never wait for the lock file's write
                        self.on_durable(target)
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

    def remove_all(self):
        """Delete every segment after a clean close (the data file holds everything below its clean-close
        mark, so nothing here is needed; the next writer starts a fresh log at the mark, as after
        ``discard_all``).  Nothing may be appended afterwards.  Caller: storage.Database.close, with the
        writer lock held and no reader process attached."""
        with self.lock:
            for s in self.segments:
                f = self.files.pop(s, None)
                if f is not None:
                    f.close()
                self.vfs.remove(self._path(s))
            self.segments = []
            self.failed = WalError(f"{self.dir}: the log was removed at a clean close")
        self.vfs.sync_dir(self.dir)

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

