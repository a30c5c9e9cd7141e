"""Paragraph-level boilerplate removal, the same for HTML-extracted and already-plain text.

Whatever the extractor keeps, real news pages leak the same kinds of non-story lines into it:
photo captions and agency credits, ad and sponsor labels, share bars, newsletter and cookie
prompts, comment forms, "Must Read"/"Related" teaser blocks, bylines and datelines repeated as
text. Each kind is recognised by its wording and shape (short, no sentence punctuation), never by
a site's name, so the rules carry over to unseen sites. Multilingual where the wording is common.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from workers.stages.clean.text import normalise_space

# Lines up to this many words can be labels, credits or bars; a story paragraph is longer.
SHORT_LINE_WORDS = 12
# Captions and prompts rarely run past this many words; longer text is story even if it matches.
PROMPT_MAX_WORDS = 45

_AD_LABELS = frozenset(
    {
        "advertisement",
        "advertising",
        "sponsor message",
        "sponsored",
        "sponsored content",
        "paid content",
        "paid post",
        "promoted",
        "partner content",
        "ad",
        "ads",
        "skip advertisement",
        "story continues below advertisement",
        "article continues below advertisement",
        "continue reading below",
        "continue reading the main story",
        "scroll to continue with content",
        "content continues below",
        "anzeige",
        "werbung",
        "publicidad",
        "publicidade",
        "publicité",
        "pubblicità",
        "reklama",
        "advertentie",
        "annonce",
        "reklam",
        "mainos",
        "реклама",
        "广告",
        "広告",
    }
)
_SHARE_WORDS = frozenset(
    {
        "share",
        "shares",
        "sharing",
        "this",
        "article",
        "story",
        "page",
        "on",
        "via",
        "the",
        "or",
        "facebook",
        "twitter",
        "x",
        "email",
        "e-mail",
        "mail",
        "whatsapp",
        "linkedin",
        "pinterest",
        "reddit",
        "print",
        "copy",
        "link",
        "copied",
        "tweet",
        "messenger",
        "telegram",
        "flipboard",
        "bluesky",
        "threads",
        "save",
        "comment",
        "comments",
        "gift",
        "teilen",
        "drucken",
        "compartir",
        "partager",
        "condividi",
        "delen",
        "dela",
        "udostępnij",
        "поделиться",
        "imprimir",
        "imprimer",
        "stampa",
        "kopieren",
        "copiar",
        "listen",
        "min",
        "read",
    }
)
# The furniture patterns below are written in lower case and matched against the lower-cased line
# (`_Line.lower`): 3-4x faster than re.IGNORECASE on story-length paragraphs, the same answers
# (tests/test_clean_boilerplate.py checks the patterns hold no upper-case literal).
_CAPTION_MARKERS = re.compile(
    r"\b(?:hide caption|toggle caption|enlarge this image|expand image|view image in fullscreen"
    r"|image \d+ of \d+|photo \d+ of \d+|bild \d+ von \d+|foto \d+ de \d+)\b",
)
_AGENCY = (
    r"(?:getty images?|associated press|ap photo|reuters|afp|epa(?:-efe)?|dpa|shutterstock|alamy"
    r"|bloomberg|anadolu(?: agency)?|sipa|zuma(?: press)?|xinhua|picture[- ]alliance|imago"
    r"|keystone|ansa|efe|nurphoto|istock(?:photo)?|pa (?:images|wire|media)|afp via getty images"
    r"|tass|sopa images|the canadian press|aap|news ?pix|wireimage|filmmagic)"
)
_CREDIT_LINE = re.compile(
    rf"(?:^|[/(,;:]\s*|\s)(?:via\s+)?{_AGENCY}(?:\s+(?:north america|europe|asia|for \w+))?\W*$"
    r"|^(?:photo|photograph|image|picture|foto|bild|credit|crédit|crédito|fotó|quelle|source)s?"
    r"(?:\s+credit)?\s*[:：]"
    r"|^(?:©|\(c\)|copyright\b)",
)
_PHOTO_BY_TAIL = re.compile(
    r"\((?:photo|image|picture|foto|bild)s?(?:\s+by|\s*[:：])[^)]{2,80}\)\s*$"
    r"|\b(?:photo|image|picture)(?:graph)?\s*(?:by|credit|:)\s*[^.]{2,60}/[^.]{2,60}$",
)
_COMMENT_FORM = re.compile(
    r"\b(?:leave a reply|leave a comment|post a comment|add a comment|write a comment"
    r"|please enter your (?:comment|name|email)|you have entered an incorrect email"
    r"|save my name,? email|your email address will not be published|required fields are marked"
    r"|cancel reply|comments are closed|log ?in to (?:comment|reply)|sign in to comment"
    r"|notify me of (?:follow-up|new) (?:comments|posts)|this site uses akismet"
    r"|join the (?:conversation|discussion)|be the first to comment|show comments|view comments"
    r"|kommentar (?:schreiben|verfassen)|deja (?:un|tu) comentario|laisser un commentaire"
    r"|lascia un commento|dejar un comentario|schreibe einen kommentar)\b",
)
_NEWSLETTER = re.compile(
    r"\b(?:newsletters?|sign(?:ing)? up|subscribe|subscription|inbox|abonnieren|abonnez-vous"
    r"|inscr[ií]bete|suscr[ií]bete|iscriviti|anmelden)\b",
)
_NEWSLETTER_CONTEXT = re.compile(
    r"\b(?:newsletters?|inbox|e-?mail|delivered|free|weekly|daily|sign up|abonnieren|iscriviti"
    r"|inscr[ií]bete|suscr[ií]bete|abonnez-vous)\b",
)
_COOKIE = re.compile(r"\bcookies?\b")
_COOKIE_CONTEXT = re.compile(
    r"\b(?:accept|consent|agree|use|uses|policy|settings|preferences|akzeptieren|zustimmen"
    r"|aceptar|accepter|accetta)\b",
)
_PAYWALL = re.compile(
    r"\b(?:subscribe (?:now )?to (?:continue|read|unlock)|to continue reading|continue reading with"
    r"|already a subscriber"
    r"|this (?:article|story|content) is (?:for|only available to|reserved for)"
    r" (?:subscribers|members)"
    r"|subscribers only|for subscribers|sign in to (?:read|continue)"
    r"|create a free account to|register (?:now )?to (?:continue|read)|you have reached your"
    r"(?: free)? (?:article|story) limit|unlock (?:this|full) (?:article|story|access)"
    r"|jetzt weiterlesen|weiterlesen mit|nur für abonnenten|artikel ist exklusiv"
    r"|réservé aux abonnés"
    r"|article réservé|la suite est réservée|contenido exclusivo para suscriptores"
    r"|solo para suscriptores|riservato agli abbonati|abbonati per continuare)\b",
)
_TEASER_PREFIX = re.compile(
    r"^(?:read more|read also|also read|read next|related|related story|related article|see also"
    r"|more|more on this|recommended|watch|listen|lesen sie auch|mehr zum thema|auch interessant"
    r"|lire aussi|à lire aussi|leer más|lee también|te puede interesar|leggi anche)"
    r"\s*[:：>»|–—-]\s*\S",
    re.IGNORECASE,
)
_END_MARKERS = frozenset(
    {
        "must read",
        "must reads",
        "related",
        "related articles",
        "related stories",
        "related posts",
        "related content",
        "related news",
        "more stories",
        "more from",
        "more news",
        "more to read",
        "you may also like",
        "you might also like",
        "recommended",
        "recommended for you",
        "recommended stories",
        "read more",
        "read next",
        "most read",
        "most popular",
        "popular",
        "trending",
        "trending now",
        "latest news",
        "latest stories",
        "top stories",
        "more on this",
        "more on this story",
        "what to read next",
        "don't miss",
        "editor's picks",
        "around the web",
        "leave a reply",
        "leave a comment",
        "comments",
        "discussion",
        "share this",
        "share this:",
        "share this article",
        "tags",
        "topics",
        "weitere artikel",
        "mehr zum thema",
        "das könnte sie auch interessieren",
        "auch interessant",
        "meistgelesen",
        "lesen sie auch",
        "à lire aussi",
        "lire aussi",
        "sur le même sujet",
        "les plus lus",
        "noticias relacionadas",
        "te puede interesar",
        "lo más leído",
        "más noticias",
        "leggi anche",
        "potrebbe interessarti",
        "articoli correlati",
    }
)
_BYLINE = re.compile(
    r"^(?:by|von|por|par|di|door|av|af|przez|written by|words by|reporting by)\s+"
    r"[\w'’.\-]+(?:\s+[\w'’.\-]+){0,6}"
    r"(?:\s*(?:,|and|und|y|et|e|&)\s*[\w'’.\-]+(?:\s+[\w'’.\-]+){0,4})*\s*$",
    re.IGNORECASE,
)
_DATELINE = re.compile(
    r"^(?:(?:published|updated|posted|last updated|modified|aktualisiert|veröffentlicht|erschienen"
    r"|publicado|actualizado|publié|mis à jour|pubblicato|aggiornato)\b[^.!?]{0,60}"
    r"|\d{1,2}[./]\d{1,2}[./]\d{2,4}(?:,?\s*\d{1,2}[:.]\d{2}\s*(?:uhr|h|am|pm)?)?"
    r"|\w+\.? \d{1,2},? \d{4}(?:,? \d{1,2}:\d{2}\s*(?:am|pm)?(?:\s*\w{2,4})?)?"
    r"|\d{1,2}\.? \w+\.? \d{4}(?:,? \d{1,2}[:.]\d{2}(?:\s*uhr)?)?)\s*$",
    re.IGNORECASE,
)
_READ_TIME = re.compile(
    r"^(?:\d+\s*(?:min(?:ute)?s?|minuten|minutos)\s*(?:read|lesezeit|de lectura|lecture)?"
    r"|(?:reading time|lesezeit|temps de lecture)\s*:?\s*\d+\s*\w*)\.?$",
    re.IGNORECASE,
)
# Splitting a caption from its gallery controls works on the original text, so in either case.
_CAPTION_MARKERS_ANY_CASE = re.compile(_CAPTION_MARKERS.pattern, re.IGNORECASE)
_WORD = re.compile(r"[\w'’-]+")
_LABEL_KEY = re.compile(r"[^\w\s'’&]+")


def _label(line: str) -> str:
    """A line reduced to lower-case words, for matching fixed labels such as "Advertisement"."""
    return " ".join(_LABEL_KEY.sub(" ", line.lower()).split())


def _words(line: str) -> int:
    return len(line.split())


@dataclass(frozen=True, slots=True)
class _Line:
    """One paragraph with what most rules look at computed once: word count, label, lower case.

    The filter runs every rule on every paragraph; computing these per rule made it cost as much
    as the extraction itself on small pages.
    """

    text: str
    words: int
    key: str
    lower: str

    @classmethod
    def of(cls, text: str) -> _Line:
        lower = text.lower()
        # _label(text), from the lower case at hand
        return cls(text, _words(text), " ".join(_LABEL_KEY.sub(" ", lower).split()), lower)


# Cue words: every phrase a pattern matches holds one of its cues, so a line without any cannot
# match. `in` tests on the lower-cased line cost ~0.1 us each, the patterns 3-5 us on a story
# paragraph, and most paragraphs have no cue. Keep them in step with the patterns above
# (tests/test_clean_boilerplate.py has a phrase for each alternative).
_CAPTION_CUES = ("caption", "image", "photo", "picture", "bild", "foto")
_COMMENT_CUES = (
    "comment",
    "comentario",
    "kommentar",
    "reply",
    "enter",
    "email",
    "required",
    "notify",
    "akismet",
    "join",
)
_PAYWALL_CUES = (
    "subscri",
    "continu",
    "member",
    "sign in",
    "account",
    "register",
    "limit",
    "unlock",
    "weiterlesen",
    "abonn",
    "exklusiv",
    "réservé",
    "suscriptor",
    "abbonat",
)
_NEWSLETTER_CUES = (
    "newsletter",
    "sign",
    "subscri",
    "inbox",
    "abonn",
    "inscr",
    "suscr",
    "iscriv",
    "anmelden",
)


# Any cue of the three prompt patterns: one scan rules out most paragraphs for all three.
_PROMPT_CUE = re.compile(
    "|".join(map(re.escape, sorted({*_COMMENT_CUES, *_PAYWALL_CUES, *_NEWSLETTER_CUES})))
)


def _has_cue(lower: str, cues: tuple[str, ...]) -> bool:
    return any(cue in lower for cue in cues)


def _is_caption(line: _Line) -> bool:
    """A photo caption: it has a gallery control ("hide caption") or ends with a photo credit."""
    if not _has_cue(line.lower, _CAPTION_CUES):
        return False
    if _CAPTION_MARKERS.search(line.lower):
        return True
    return line.words <= PROMPT_MAX_WORDS * 2 and bool(_PHOTO_BY_TAIL.search(line.lower))


def _is_share_bar(line: _Line) -> bool:
    # A bar has at most SHORT_LINE_WORDS words; separators ("|", "·") may double the raw tokens.
    if line.words > SHORT_LINE_WORDS * 2:
        return False
    words = _WORD.findall(line.text)
    if not words or len(words) > SHORT_LINE_WORDS:
        return False
    # Every word a share word or a pure counter ("12 shares", "3 comments"), at least one share
    # word; most lines fail on their first word, so words are lower-cased one at a time.
    shared = False
    for word in words:
        lower = word.lower()
        if lower in _SHARE_WORDS:
            shared = True
        elif not lower.isdigit():
            return False
    return shared


def _is_short_furniture(line: _Line, author_keys: frozenset[str]) -> bool:
    """Rules for lines of at most SHORT_LINE_WORDS words: credits, bylines, datelines."""
    text = line.text
    return (
        bool(_CREDIT_LINE.search(line.lower))  # "Kayla Bartkowski/Getty Images", "Photo: AP"
        or (bool(_BYLINE.match(text)) and text[:1].isupper())
        or (bool(line.key) and line.key in author_keys)  # the byline is the author's name alone
        or bool(_DATELINE.match(text))
        or bool(_READ_TIME.match(text))
    )


def _is_prompt(line: _Line) -> bool:
    """The rules for lines of at most PROMPT_MAX_WORDS words: comment forms, newsletter and
    paywall prompts, inline "READ MORE:" links."""
    if line.words <= 30 and _TEASER_PREFIX.match(line.text):
        return True
    lower = line.lower
    if not _PROMPT_CUE.search(lower):
        return False
    if _has_cue(lower, _COMMENT_CUES) and _COMMENT_FORM.search(lower):
        return True
    if _has_cue(lower, _PAYWALL_CUES) and _PAYWALL.search(lower):
        return True
    if _has_cue(lower, _NEWSLETTER_CUES) and _NEWSLETTER.search(lower):
        cues = set(_NEWSLETTER.findall(lower)) | set(_NEWSLETTER_CONTEXT.findall(lower))
        # Two distinct cues ("sign up" + "inbox"), so a story sentence about a subscription
        # survives.
        return len(cues) >= 2
    return False


def _is_cookie_prompt(line: _Line) -> bool:
    lower = line.lower
    if "cookie" not in lower or not _COOKIE.search(lower):
        return False
    tokens = lower.split()
    return bool(_COOKIE_CONTEXT.search(lower)) and (
        "we" in tokens
        or "this site" in lower
        or "website" in lower
        or "wir" in tokens
        or "nous" in tokens
    )


def _is_furniture(line: _Line, author_keys: frozenset[str]) -> bool:
    """True for a line that is page furniture; the cheap and length-gated rules go first."""
    if line.key in _AD_LABELS:
        return True
    if line.words <= SHORT_LINE_WORDS * 2 and _is_share_bar(line):
        return True
    if line.words <= SHORT_LINE_WORDS and _is_short_furniture(line, author_keys):
        return True
    if line.words <= PROMPT_MAX_WORDS and _is_prompt(line):
        return True
    if line.words <= PROMPT_MAX_WORDS * 2 and _is_cookie_prompt(line):
        return True
    return _caption_of(line)


# Verdicts are memoised per line text: the block classifier asks about every block of a page
# (furniture_flags), the filter then asks again about the blocks kept as text, and a quarter of a
# page's blocks repeat one another (menu items, "Share", "Advertisement"). The rules are pure
# functions of the text (and the authors), so a remembered verdict is the verdict. Bounded: a
# long-running worker keeps at most this many lines per memo (~ the blocks of a few long pages),
# and only lines up to _MEMO_MAX_CHARS (the ones that repeat are short), so a memo holds a few
# MB whatever the pages (a block may be 100 kB of text).
_MEMO_LINES = 4096
_MEMO_MAX_CHARS = 2_000


@lru_cache(maxsize=_MEMO_LINES)
def _memo_line(text: str) -> _Line:
    return _Line.of(text)


@lru_cache(maxsize=_MEMO_LINES)
def _memo_furniture(text: str, author_keys: frozenset[str]) -> bool:
    return _is_furniture(_memo_line(text), author_keys)


@lru_cache(maxsize=_MEMO_LINES)
def _memo_caption(text: str) -> bool:
    return _is_caption(_memo_line(text))


def _line_of(text: str) -> _Line:
    return _memo_line(text) if len(text) <= _MEMO_MAX_CHARS else _Line.of(text)


def _furniture_verdict(text: str, author_keys: frozenset[str]) -> bool:
    if len(text) <= _MEMO_MAX_CHARS:
        return _memo_furniture(text, author_keys)
    return _is_furniture(_Line.of(text), author_keys)


def _caption_of(line: _Line) -> bool:
    return _memo_caption(line.text) if len(line.text) <= _MEMO_MAX_CHARS else _is_caption(line)


def _author_keys(authors: Sequence[str]) -> frozenset[str]:
    return frozenset(key for key in (_label(a) for a in authors) if key)


def is_boilerplate(line: str, authors: Sequence[str] = ()) -> bool:
    """True for a line that is page furniture rather than part of the story.

    Captions and photo credits, ad/sponsor labels, share bars, comment forms, newsletter, cookie
    and paywall prompts, inline "READ MORE:" links, bylines (or an author's name alone),
    datelines and reading times.
    """
    return _is_furniture(_Line.of(line), _author_keys(authors))


def furniture_flags(lines: Sequence[str], authors: Sequence[str] = ()) -> list[bool]:
    """`is_boilerplate` for each line, with the authors' keys computed once."""
    author_keys = _author_keys(authors)
    return [_furniture_verdict(line, author_keys) for line in lines]


def is_paywall_prompt(line: str) -> bool:
    return _words(line) <= PROMPT_MAX_WORDS and bool(_PAYWALL.search(line.lower()))


def _strip_caption_tail(line: str) -> str:
    """The caption's own words, without the gallery controls and credit behind them."""
    text = _CAPTION_MARKERS_ANY_CASE.split(line)[0]
    return normalise_space(text)


def _is_title_line(line: _Line, title_key: str) -> bool:
    """The headline repeated in the body, alone or behind a short breadcrumb ("Home World ...")."""
    if not title_key:
        return False
    key = line.key
    if key == title_key:
        return True
    return key.endswith(" " + title_key) and _words(key) - _words(title_key) <= 5


def filter_paragraphs(
    paragraphs: Sequence[str], title: str | None = None, authors: Sequence[str] = ()
) -> list[str]:
    """The story's paragraphs out of `paragraphs`, in order, with page furniture removed.

    1. drop furniture lines (see `is_boilerplate`) and the headline repeated as text;
    2. drop text that only repeats a caption (captions are often printed twice, once bare);
    3. cut the tail at an end marker ("Must Read", "Related", "Leave a reply") when the story is
       mostly behind us; an end marker in the first half only loses its own line;
    4. drop exact repeats of an earlier paragraph.
    """
    title_key = _label(title or "")
    author_keys = _author_keys(authors)
    lines = [_line_of(text) for text in (normalise_space(p) for p in paragraphs) if text]
    is_caption = [_caption_of(line) for line in lines]
    captions = [
        _label(_strip_caption_tail(line.text))
        for line, caption in zip(lines, is_caption, strict=True)
        if caption
    ]
    captions = [c for c in captions if c]

    kept: list[_Line] = []
    for line in lines:
        if _furniture_verdict(line.text, author_keys) or _is_title_line(line, title_key):
            continue
        if (
            captions
            and line.words <= PROMPT_MAX_WORDS * 2
            and any(c.startswith(line.key) for c in captions)
        ):
            continue
        kept.append(line)

    seen: set[str] = set()
    unique: list[str] = []
    for line in _cut_tail(kept):
        if line.key in seen and line.words > 3:
            continue
        seen.add(line.key)
        unique.append(line.text)
    return unique


def _cut_tail(lines: list[_Line]) -> list[_Line]:
    total = sum(line.words for line in lines)
    before = 0
    out: list[_Line] = []
    for index, line in enumerate(lines):
        if line.words <= 8 and line.key in _END_MARKERS:
            # A heading that starts the page's tail (teasers, comments, tag lists). Cut when at
            # least half of the words are already behind us; earlier, the marker is an inline box
            # and only its label goes.
            if before * 2 >= total - line.words and index >= 2:
                break
            continue
        before += line.words
        out.append(line)
    return out
