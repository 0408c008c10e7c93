"""Clean up transcript and MELD text: mis-encoded bytes, curly quotes, odd dashes and spacing."""

from __future__ import annotations

import re
import unicodedata

# Typographic characters mapped onto the plain ASCII the MELD train split mostly uses.
_PLAIN: dict[str, str] = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2013": "-",
    "\u2014": " - ",
    "\u2015": " - ",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u200b": "",
    "\ufeff": "",
    "\ufffd": "",  # the replacement character left by undecodable bytes
}
_TABLE = str.maketrans(_PLAIN)
# Bytes 0x80-0x9f decoded as Latin-1 (e.g. "\x92") are Windows-1252 punctuation in disguise.
_C1 = re.compile("[\x80-\x9f]")
# UTF-8 read as Windows-1252 ("â€™", "Ã©"): the lead characters of such mojibake.
_MOJIBAKE = re.compile("[\u00c2\u00c3\u00e2][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
                       "\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")
_RUN = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152-\u2122]{1,3}")
_SPACES = re.compile(r"\s+")


def _cp1252_bytes(text: str) -> bytes:
    """Encode as Windows-1252, keeping its five undefined bytes (0x81, 0x8d, 0x8f, 0x90, 0x9d) as-is."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1252")
        except UnicodeEncodeError:
            if ord(char) > 0xFF:
                raise
            out.append(ord(char))
    return bytes(out)


def _undo(run: str) -> str:
    try:
        return _cp1252_bytes(run).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return run


def _fix_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as Windows-1252 ("â€™" -> "’"), run by run."""
    if not _MOJIBAKE.search(text):
        return text
    whole = _undo(text)
    if whole != text:
        return whole
    return _RUN.sub(lambda match: _undo(match.group(0)), text)


def _fix_c1(text: str) -> str:
    """Map stray C1 control characters (Latin-1 decoded cp1252 bytes) to their cp1252 meaning."""

    def repair(match: re.Match[str]) -> str:
        try:
            return bytes([ord(match.group(0))]).decode("cp1252")
        except UnicodeDecodeError:
            return ""

    return _C1.sub(repair, text)


def normalize_text(text: str) -> str:
    """Return ``text`` repaired and simplified for the encoder.

    Fixes UTF-8/Windows-1252 mojibake ("â€™" -> "'") and stray C1 bytes ("\\x92" -> "'"), maps curly
    quotes, dashes and ellipses to ASCII, applies NFKC and collapses whitespace. Idempotent.
    """
    if not text:
        return ""
    text = _fix_mojibake(text)
    text = _fix_c1(text)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_TABLE)
    return _SPACES.sub(" ", text).strip()
