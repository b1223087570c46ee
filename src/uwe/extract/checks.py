"""What an ad must be before it is extracted from: text, not empty, not huge, not binary, and in English.

Every check raises :class:`AdError` (a :class:`~uwe.errors.UserError`: one line at the command line, HTTP 422
from the service) naming what is wrong and the fix.
"""

from __future__ import annotations

import re
import unicodedata

from uwe.data.text import check_unicode, is_invisible
from uwe.errors import UserError

# A long job ad is about 10,000 characters; 100,000 leaves room for ten of them pasted together and keeps the
# work bounded (at most a few thousand sentences to encode).
MAX_AD_CHARS = 100_000
# The model was trained on English ESCO text. An ad is taken for another language when most of its letters are
# not Latin (Cyrillic, Greek, Arabic, CJK, ...) or when its common function words are mostly another language's
# (at least FOREIGN_MIN_WORDS of them, more than twice its English ones). Function words, not a share of all
# words: a skills list ("Python, SQL, Spark") has none in any language and must pass.
FOREIGN_MIN_WORDS = 3
_FUNCTION_WORDS = {
    "English": "a an and are as at be by for from has have in is it of on or our the their this to we will with "
               "you your",
    "German": "und der die das wir sie mit für ist ein eine einen den dem des zu auf bei oder sind ihre unser "
              "unsere von im",
    "French": "et le la les des une un du pour avec nous vous est sur dans au aux votre notre sont ou",
    "Spanish": "y el la los las del una un para con nosotros es en por tu su sus al o buscamos",
    "Dutch": "en de het een van voor met wij jij je is op bij zijn onze jouw naar ook",
    "Italian": "e il lo la gli le di del della per con noi è un una sono nel alla",
    "Portuguese": "e o os as um uma para com nós é em do da dos das no na você",
}
FUNCTION_WORDS = {language: frozenset(words.split()) for language, words in _FUNCTION_WORDS.items()}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


# Windows-1252 text decoded as Latin-1, a common slip of exports (WorkBench's own sentences hold "you\x92ll"), has
# its punctuation as C1 control characters. Each stands for one character, so the repair keeps every offset; the
# five C1 codes that Windows-1252 leaves undefined stay controls.
_CP1252_C1 = {}
for _code in range(0x80, 0xA0):
    try:
        _CP1252_C1[_code] = bytes([_code]).decode("cp1252")
    except UnicodeDecodeError:
        pass


def repair_cp1252(text: str) -> str:
    """``text`` with the C1 control characters that Windows-1252 read as Latin-1 leaves behind turned back into
    the punctuation they were; the same length, so offsets into ``text`` still hold.

    >>> repair_cp1252("you\x92ll need \x93SQL\x94 \x96 and Python")
    'you’ll need “SQL” – and Python'
    """
    return text.translate(_CP1252_C1)


class AdError(UserError):
    """An ad that cannot be extracted from; the message says why and what to do."""


def guess_language(text: str) -> str:
    """``"English"``, another language's name, or ``"a non-Latin script"``; ``"English"`` when unsure.

    >>> guess_language("We are looking for a developer with experience in Python and SQL")
    'English'
    >>> guess_language("Wir suchen einen Entwickler mit Erfahrung in Python und SQL für unser Team")
    'German'
    >>> guess_language("Python, SQL, Spark, Airflow, Docker, Kubernetes")
    'English'
    >>> guess_language("Требуется разработчик Python с опытом работы")
    'a non-Latin script'
    """
    letters = [c for c in text if c.isalpha()]
    if letters and sum("LATIN" in unicodedata.name(c, "") for c in letters) < len(letters) / 2:
        return "a non-Latin script"
    words = [w.lower() for w in _WORD.findall(text)]
    counts = {language: sum(w in vocabulary for w in words) for language, vocabulary in FUNCTION_WORDS.items()}
    english = counts.pop("English")
    language, foreign = max(counts.items(), key=lambda item: item[1])
    return language if foreign >= FOREIGN_MIN_WORDS and foreign > 2 * english else "English"


def check_ad(text: object, any_language: bool = False, max_chars: int = MAX_AD_CHARS) -> str:
    """``text`` once it is a non-empty, valid-Unicode string of at most ``max_chars`` characters with no
    binary control characters and (unless ``any_language``) English, with Windows-1252 punctuation read as C1
    controls repaired (:func:`repair_cp1252`: same length); else :class:`AdError` saying why.

    >>> check_ad("   ")
    Traceback (most recent call last):
    uwe.extract.checks.AdError: the ad is empty (only whitespace or invisible characters); give the text of a job ad
    """
    if isinstance(text, (bytes, bytearray)):
        raise AdError("the ad is bytes, not text: decode it first (e.g. data.decode('utf-8'))")
    if not isinstance(text, str):
        raise AdError(f"the ad must be a string, got {type(text).__name__}")
    if not text.strip() or is_invisible(text):
        raise AdError("the ad is empty (only whitespace or invisible characters); give the text of a job ad")
    if len(text) > max_chars:
        raise AdError(f"the ad has {len(text):,} characters, more than the limit of {max_chars:,}: split it into "
                      "separate ads (a long job ad has about 10,000)")
    check_unicode(text, "the ad")
    text = repair_cp1252(text)
    binary = sum(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f\v" for c in text)
    if binary:
        raise AdError(f"the ad holds {binary} binary control character(s) (e.g. NUL): it looks like a binary file, "
                      "not text; extract the text first (e.g. from a PDF with pdftotext)")
    language = "English" if any_language else guess_language(text)
    if language != "English":
        raise AdError(f"the ad looks written in {language}, not English; the model was trained on English ESCO "
                      "text, so its skills and probabilities would be unreliable: translate the ad, or pass "
                      "any_language=True (--any-language) to extract anyway")
    return text
