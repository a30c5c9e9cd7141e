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

from workers.stages.clean.text import normalize_space

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
_CAPTION_MARKERS = re.compile(
    r"\b(?:hide caption|toggle caption|enlarge this image|expand image|view image in fullscreen"
    r"|image \d+ of \d+|photo \d+ of \d+|bild \d+ von \d+|foto \d+ de \d+)\b",
    re.IGNORECASE,
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
    re.IGNORECASE,
)
_PHOTO_BY_TAIL = re.compile(
    r"\((?:photo|image|picture|foto|bild)s?(?:\s+by|\s*[:：])[^)]{2,80}\)\s*$"
    r"|\b(?:photo|image|picture)(?:graph)?\s*(?:by|credit|:)\s*[^.]{2,60}/[^.]{2,60}$",
    re.IGNORECASE,
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
    re.IGNORECASE,
)
_NEWSLETTER = re.compile(
    r"\b(?:newsletters?|sign(?:ing)? up|subscribe|subscription|inbox|abonnieren|abonnez-vous"
    r"|inscr[ií]bete|suscr[ií]bete|iscriviti|anmelden)\b",
    re.IGNORECASE,
)
_NEWSLETTER_CONTEXT = re.compile(
    r"\b(?:newsletters?|inbox|e-?mail|delivered|free|weekly|daily|sign up|abonnieren|iscriviti"
    r"|inscr[ií]bete|suscr[ií]bete|abonnez-vous)\b",
    re.IGNORECASE,
)
_COOKIE = re.compile(r"\bcookies?\b", re.IGNORECASE)
_COOKIE_CONTEXT = re.compile(
    r"\b(?:accept|consent|agree|use|uses|policy|settings|preferences|akzeptieren|zustimmen"
    r"|aceptar|accepter|accetta)\b",
    re.IGNORECASE,
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
    re.IGNORECASE,
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
_WORD = re.compile(r"[\w'’-]+")
_LABEL_KEY = re.compile(r"[^\w\s'’&]+")


def _label(line: str) -> str:
    """A line reduced to lower-case words, for matching fixed labels such as "Advertisement"."""
    return " ".join(_LABEL_KEY.sub(" ", line.lower()).split())


def _words(line: str) -> int:
    return len(line.split())


def is_caption(line: str) -> bool:
    """A photo caption: it has a gallery control ("hide caption") or ends with a photo credit."""
    if _CAPTION_MARKERS.search(line):
        return True
    return _words(line) <= PROMPT_MAX_WORDS * 2 and bool(_PHOTO_BY_TAIL.search(line))


def is_credit(line: str) -> bool:
    """A photo/agency credit line such as "Kayla Bartkowski/Getty Images" or "Photo: AP"."""
    return _words(line) <= SHORT_LINE_WORDS and bool(_CREDIT_LINE.search(line))


def is_ad_label(line: str) -> bool:
    return _label(line) in _AD_LABELS


def is_share_bar(line: str) -> bool:
    words = [w.lower() for w in _WORD.findall(line)]
    if not words or len(words) > SHORT_LINE_WORDS:
        return False
    # Pure counters ("12 shares", "3 comments") belong to the bar too.
    return all(w in _SHARE_WORDS or w.isdigit() for w in words) and any(
        w in _SHARE_WORDS for w in words
    )


def is_comment_form(line: str) -> bool:
    return _words(line) <= PROMPT_MAX_WORDS and bool(_COMMENT_FORM.search(line))


def is_newsletter_prompt(line: str) -> bool:
    if _words(line) > PROMPT_MAX_WORDS:
        return False
    cues = {m.lower() for m in _NEWSLETTER.findall(line)} | {
        m.lower() for m in _NEWSLETTER_CONTEXT.findall(line)
    }
    # Two distinct cues ("sign up" + "inbox"), so a story sentence about a subscription survives.
    return bool(_NEWSLETTER.search(line)) and len(cues) >= 2


def is_cookie_prompt(line: str) -> bool:
    return (
        _words(line) <= PROMPT_MAX_WORDS * 2
        and bool(_COOKIE.search(line))
        and bool(_COOKIE_CONTEXT.search(line))
        and (
            "we" in line.lower().split()
            or "this site" in line.lower()
            or "website" in line.lower()
            or "wir" in line.lower().split()
            or "nous" in line.lower().split()
        )
    )


def is_paywall_prompt(line: str) -> bool:
    return _words(line) <= PROMPT_MAX_WORDS and bool(_PAYWALL.search(line))


def is_teaser_link(line: str) -> bool:
    """An inline cross-link such as "READ MORE: Other headline" placed between paragraphs."""
    return _words(line) <= 30 and bool(_TEASER_PREFIX.match(line))


def is_end_marker(line: str) -> bool:
    """A heading that starts the page's tail (teasers, comments, tag lists), not the story."""
    return _words(line) <= 8 and _label(line) in _END_MARKERS


def is_byline(line: str, authors: Sequence[str]) -> bool:
    if _words(line) > SHORT_LINE_WORDS:
        return False
    if _BYLINE.match(line) and line[:1].isupper():
        return True
    label = _label(line)
    return bool(label) and any(label == _label(a) for a in authors)


def is_dateline(line: str) -> bool:
    return _words(line) <= SHORT_LINE_WORDS and (
        bool(_DATELINE.match(line)) or bool(_READ_TIME.match(line))
    )


def is_boilerplate(line: str, authors: Sequence[str] = ()) -> bool:
    """True for a line that is page furniture rather than part of the story."""
    return (
        is_caption(line)
        or is_credit(line)
        or is_ad_label(line)
        or is_share_bar(line)
        or is_comment_form(line)
        or is_newsletter_prompt(line)
        or is_cookie_prompt(line)
        or is_paywall_prompt(line)
        or is_teaser_link(line)
        or is_byline(line, authors)
        or is_dateline(line)
    )


def _strip_caption_tail(line: str) -> str:
    """The caption's own words, without the gallery controls and credit behind them."""
    text = _CAPTION_MARKERS.split(line)[0]
    return normalize_space(text)


def _is_title_line(line: str, title_key: str) -> bool:
    """The headline repeated in the body, alone or behind a short breadcrumb ("Home World ...")."""
    if not title_key:
        return False
    key = _label(line)
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
    lines = [normalize_space(p) for p in paragraphs]
    lines = [p for p in lines if p]
    captions = [_label(_strip_caption_tail(p)) for p in lines if is_caption(p)]
    captions = [c for c in captions if c]

    kept: list[str] = []
    for line in lines:
        if is_boilerplate(line, authors) or _is_title_line(line, title_key):
            continue
        key = _label(line)
        if (
            captions
            and _words(line) <= PROMPT_MAX_WORDS * 2
            and any(c.startswith(key) for c in captions)
        ):
            continue
        kept.append(line)

    kept = _cut_tail(kept)

    seen: set[str] = set()
    unique: list[str] = []
    for line in kept:
        key = _label(line)
        if key in seen and _words(line) > 3:
            continue
        seen.add(key)
        unique.append(line)
    return unique


def _cut_tail(lines: list[str]) -> list[str]:
    total = sum(_words(p) for p in lines)
    before = 0
    out: list[str] = []
    for index, line in enumerate(lines):
        if is_end_marker(line):
            # Cut when at least half of the words are already behind us (the tail holds teasers,
            # comments or tags); earlier, the marker is an inline box and only its label goes.
            if before * 2 >= total - _words(line) and index >= 2:
                break
            continue
        before += _words(line)
        out.append(line)
    return out
