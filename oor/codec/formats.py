"""The one format vocabulary of OOR: names, CelesTrak aliases, file extensions, and which name a command uses.

Who may import: anyone (``oor.codec.io`` maps the names to its readers and
writers; ``oor.cli`` and ``oor.registry`` resolve ``--format`` / ``-o``
with ``resolve``).  Pure functions, no I/O.

  name       reads  writes  what                                             extensions
  table      -      yes     one line per set: id, epoch, COSPAR id, name     (.txt with --format)
  tle        yes    yes     two-line element sets, no names                  .tle .2le
  3le        yes    yes     three-line: name line, then the two lines        .3le .txt
  omm-xml    yes    yes     CCSDS OMM XML (CelesTrak, Space-Track)           .xml
  omm-json   yes    yes     OMM JSON array (CelesTrak numbers)               .json
  omm-csv    yes    yes     OMM CSV (CelesTrak columns)                      .csv
  omm-kvn    yes    yes     OMM keyword = value text                         .kvn .omm
  jsonl      yes    yes     one OMM JSON object per line (JSON Lines)        .jsonl .ndjson
  parquet    -      export  Apache Parquet (``Registry.to_arrow``; pyarrow)  .parquet

Aliases: CelesTrak's ``FORMAT=`` names ``xml``, ``json``, ``csv``, ``kvn``
(and ``2le``, ``omm``, ``ndjson``).  The TLE reader reads 2- and 3-line sets
alike, so ``tle`` and ``3le`` read the same; they differ when writing.

Rule for a command that writes (``resolve``): ``--format`` given -> that
format, and an output file whose extension names another family is an error
(``x.xml`` with ``--format 3le``); no ``--format`` -> the output file's
extension (``.gz`` looked through) or, without one, the command's default.
``.tle``, ``.3le``, ``.2le`` and ``.txt`` are one family (tle, 3le; ``.txt``
also table): a ``.tle`` file with name lines is still a TLE file.
"""
import os

__all__ = ["FORMATS", "READ_FORMATS", "WRITE_FORMATS", "ALIASES", "EXTENSIONS", "canonical", "for_path",
           "resolve", "codec_name"]

FORMATS = ("table", "tle", "3le", "omm-xml", "omm-json", "omm-csv", "omm-kvn", "jsonl")
READ_FORMATS = ("tle", "3le", "omm-xml", "omm-json", "omm-csv", "omm-kvn", "jsonl")
WRITE_FORMATS = FORMATS
TABLE_FORMATS = ("parquet",)         # written by the registry from columns (oor.interop), not by the codec
ALIASES = {"xml": "omm-xml", "json": "omm-json", "csv": "omm-csv", "kvn": "omm-kvn", "omm": "omm-xml",
           "2le": "tle", "ndjson": "jsonl"}
EXTENSIONS = {".tle": "tle", ".2le": "tle", ".3le": "3le", ".txt": "3le", ".xml": "omm-xml",
              ".json": "omm-json", ".csv": "omm-csv", ".kvn": "omm-kvn", ".omm": "omm-kvn",
              ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# formats an extension admits (the extension's own format first)
_FAMILY = {".tle": ("tle", "3le"), ".2le": ("tle", "3le"), ".3le": ("3le", "tle"), ".txt": ("3le", "tle", "table")}
# the codec's internal reader/writer names (oor.codec.io)
_CODEC = {"tle": "tle", "3le": "3le", "omm-xml": "xml", "omm-json": "json", "omm-csv": "csv",
          "omm-kvn": "kvn", "jsonl": "jsonl", "table": "table"}


def canonical(name, allowed=FORMATS + TABLE_FORMATS):
    """The vocabulary name of a format name or alias (case-insensitive); ValueError listing the names.

    Who may call: anyone.

    >>> canonical("XML"), canonical("omm-json"), canonical("3LE")
    ('omm-xml', 'omm-json', '3le')
    """
    if not isinstance(name, str):
        raise TypeError(f"a format name must be a str, not {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in allowed:
        aliases = ", ".join(f"{a}={c}" for a, c in ALIASES.items() if c in allowed)
        raise ValueError(f"unknown format {name!r}: expected one of {', '.join(allowed)}"
                         + (f" (aliases: {aliases})" if aliases else ""))
    return key


def _extension(path):
    base = os.path.basename(os.fspath(path)).lower()
    if base.endswith(".gz"):
        base = base[:-3]
    return os.path.splitext(base)[1]


def for_path(path):
    """The format a file name's extension names ('.gz' looked through), or None.  Who may call: anyone.

    >>> for_path("latest.xml.gz"), for_path("iss.3le"), for_path("out.dat")
    ('omm-xml', '3le', None)
    """
    if path is None or (isinstance(path, str) and path in ("", "-")):
        return None
    return EXTENSIONS.get(_extension(path))


def resolve(fmt, path, default, allowed=FORMATS):
    """The format a command writes: ``fmt`` (checked against ``path``'s extension), else the extension's, else
    ``default``.  ValueError naming the file on a mismatch or a format the command cannot write.

    Who may call: oor.cli, oor.registry.

    >>> resolve(None, "x.xml", "3le"), resolve("csv", "-", "table"), resolve(None, "out.dat", "3le")
    ('omm-xml', 'omm-csv', '3le')
    """
    by_ext = for_path(path)
    if fmt is None:
        if by_ext is None:
            return canonical(default, allowed)
        if by_ext not in allowed:
            raise ValueError(f"{path}: the extension names {by_ext}, which this command does not write "
                             f"(give --format: {', '.join(allowed)})")
        return by_ext
    name = canonical(fmt, allowed)
    if by_ext is not None:
        family = _FAMILY.get(_extension(path), (by_ext,))
        if name not in family:
            raise ValueError(f"{path}: the extension says {by_ext} but the format is {name} "
                             f"(rename the file or drop --format)")
    return name


def codec_name(name):
    """The codec's internal name of a vocabulary name or alias (io's readers/writers; "auto" stays).

    Who may call: oor.codec.io, oor.registry.
    """
    if name == "auto":
        return "auto"
    return _CODEC[canonical(name, FORMATS)]
