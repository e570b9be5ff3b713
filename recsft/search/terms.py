"""Search terms of a text: NFKC, lower-cased, word runs as terms, CJK runs as characters and
bigrams.

Latin, Cyrillic, digits and other scripts written with spaces split on anything that is not a
letter or digit. Chinese, Japanese kana and Korean Hangul runs have no spaces between words, so
a run gives its characters and/or its overlapping character pairs (the usual CJK bigram
analysis), which lets a query such as ``手机`` match ``智能手机壳``.

Example:
    >>> search_terms("Ｓmart-Phone 手机壳 x2")
    ['smart', 'phone', '手', '机', '壳', '手机', '机壳', 'x2']
"""

from __future__ import annotations

import re
import unicodedata

from recsft.errors import RecsftError

# Hiragana, katakana, CJK extension A, unified ideographs, compatibility ideographs, Hangul
# syllables, and the supplementary ideograph planes.
_CJK = ("\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
        "\U00020000-\U0003134f")
_TERMS = re.compile(rf"[{_CJK}]+|(?:(?![{_CJK}])[^\W_])+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
CJK_MODES = ("chars", "bigrams", "both")


def check_cjk_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`CJK_MODES`.

    Raises:
        RecsftError: another value.
    """
    if mode not in CJK_MODES:
        raise RecsftError(f"cjk={mode!r}: expected one of {list(CJK_MODES)}")
    return mode


def search_terms(text: str, cjk: str = "both") -> list[str]:
    """The terms of ``text``, in order of appearance (a CJK run's characters before its pairs).

    Args:
        text: Any text.
        cjk: ``"chars"`` (each CJK character), ``"bigrams"`` (each overlapping pair; a
            one-character run gives the character) or ``"both"``.

    Returns:
        The terms (possibly empty).
    """
    terms: list[str] = []
    for match in _TERMS.finditer(unicodedata.normalize("NFKC", text).lower()):
        run = match.group()
        if not _CJK_RUN.fullmatch(run):
            terms.append(run)
            continue
        if cjk in ("chars", "both") or len(run) == 1:
            terms.extend(run)
        if cjk in ("bigrams", "both"):
            terms.extend(run[i:i + 2] for i in range(len(run) - 1))
    return terms
