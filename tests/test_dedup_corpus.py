# ruff: noqa: E501  (news prose: one paragraph per line, as the clean stage emits it)
"""A small news-like corpus for the dedup tests (written for them, no dev data), and the
deterministic ways copies of a story are made: wrapped in boilerplate, truncated, edited,
reordered, re-sent with different typography. Holds no tests itself."""

from __future__ import annotations

FLOOD = """Heavy rain caused the River Severn to burst its banks on Tuesday night, flooding more than two hundred homes in the market town of Bewdley and forcing the evacuation of a care home.

Emergency services worked through the night to move residents to a leisure centre on higher ground, while volunteers filled sandbags outside shops on the high street as the water kept rising.

The Environment Agency said temporary barriers had been installed on Monday but were overwhelmed when the river rose faster than forecast after a month of rainfall fell in two days.

Local councillors called for a permanent flood wall, saying the town had been hit four times in six years and that insurance for many families had become impossible to buy at any price.

Forecasters warned that more rain was expected at the weekend and that rivers across the Midlands would stay high, with further flood warnings likely for villages downstream of the town."""

CHIPS = """A chip maker based in Cambridge has agreed to buy a Dutch rival in a deal that values the combined company at about four billion euros, creating one of the largest designers of low power processors in Europe.

The boards of both firms said the merger would let them compete with American giants for contracts in cars and data centres, where demand for energy efficient chips is growing quickly.

Shareholders of the Dutch company will receive cash and new shares, and its chief executive will join the board of the enlarged group, which will keep research centres in both countries.

Analysts said the price was generous but that the deal made sense, because the two firms sell to many of the same carmakers and have spent years competing for the same engineers.

The takeover still needs approval from competition regulators in Brussels and London, a process the companies expect to take up to nine months because of the strategic importance of the sector."""

ORCHESTRA = """The city orchestra will tour Japan and South Korea next spring for the first time in twenty years, playing eleven concerts in six cities with a programme of British and Russian music.

The tour was made possible by a gift from a private foundation after the orchestra lost part of its public funding last year and cancelled a planned visit to the United States.

Its principal conductor said the musicians had wanted to return to Asia for a long time, and that audiences there had written to the orchestra for years asking when it would come back.

Tickets for the concerts in Tokyo and Seoul sold out within a day of going on sale, and promoters are now discussing extra dates in smaller halls for the final week of the tour."""

# A different story on the same event as FLOOD: same place and subject, other words.
FLOOD_OTHER = """Insurers say the repeated flooding in Bewdley shows why the national scheme that caps premiums for homes at risk needs to be extended to small businesses on the same streets.

Shop owners on the riverside told us they had paid for their own barriers and pumps after the floods of recent years, but still could not find a company willing to cover their stock.

The trade body for insurers said it was working with the government on proposals, but warned that premiums would keep rising unless more money was spent on defences along the upper Severn.

A spokesperson for the Treasury said ministers were reviewing the scheme and would publish their conclusions before the end of the year, after talking to councils in the worst affected towns."""

# One site's page furniture, short lines and long promotional ones, as an extractor may leave it.
SITE_TOP = """Skip to content
Home
News
Sport
Weather
Subscribe to our newsletter for the latest headlines, offers from our partners and exclusive competitions every week
Sign in"""

SITE_BOTTOM = """Share this article
Facebook
Twitter
Email
Most read
Council approves plans for new cycle lanes along the ring road despite objections from traders
Police appeal for witnesses after a collision on the bypass on Sunday evening left two people injured
Readers' letters: why the new parking charges in the town centre will drive shoppers away for good
Copyright 2025 Evening Gazette. All rights reserved. Registered in England and Wales."""

MARKET_MONDAY = """The FTSE 100 closed up 42 points at 8,215 on Monday, with mining shares leading the gains after copper rose 2.1% to $9,420 a tonne on hopes of stronger demand from China.

The FTSE 250 rose 0.6% to 20,114, while the pound slipped 0.3% against the dollar to $1.27 and was flat against the euro at 1.17 as traders waited for inflation figures due on Wednesday.

Among the biggest risers were Antofagasta, up 4.2%, and Glencore, up 3.8%. The biggest faller was the housebuilder Persimmon, down 2.4% after a broker cut its rating on the shares.

Brent crude was 0.8% higher at $82.10 a barrel, and gold rose 0.4% to $2,351 an ounce, near the record it set last month when investors sought safety from conflicts in the Middle East."""

MARKET_TUESDAY = """The FTSE 100 closed up 17 points at 8,232 on Monday, with mining shares leading the gains after copper rose 1.4% to $9,552 a tonne on hopes of stronger demand from China.

The FTSE 250 rose 0.2% to 20,153, while the pound slipped 0.1% against the dollar to $1.26 and was flat against the euro at 1.16 as traders waited for inflation figures due on Wednesday.

Among the biggest risers were Antofagasta, up 3.1%, and Glencore, up 2.9%. The biggest faller was the housebuilder Persimmon, down 1.7% after a broker cut its rating on the shares.

Brent crude was 0.5% higher at $83.40 a barrel, and gold rose 0.9% to $2,372 an ounce, near the record it set last month when investors sought safety from conflicts in the Middle East."""

SHORT_A = "Police closed the M5 near Exeter after a lorry overturned on Monday morning."
SHORT_B = "Police closed the M5 near Taunton after a lorry overturned on Monday evening."

STORIES = {"flood": FLOOD, "chips": CHIPS, "orchestra": ORCHESTRA}

# Words that replace every tenth word in `edited` (deterministic "light edits").
_EDIT_WORDS = ("reportedly", "also", "then", "now", "officially", "again", "locally", "later")


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def wrapped(text: str) -> str:
    """The story inside another site's navigation, promotions and footer."""
    return f"{SITE_TOP}\n{text}\n{SITE_BOTTOM}"


def truncated(text: str, share: float = 0.6) -> str:
    """The first paragraphs only (a teaser), with a pointer to the rest."""
    paras = paragraphs(text)
    keep = max(1, round(len(paras) * share))
    return "\n\n".join(paras[:keep]) + "\n\nRead the full story on our partner site."


def reordered(text: str) -> str:
    """Paragraphs in another order (last first, as some aggregators do with the lead)."""
    paras = paragraphs(text)
    return "\n\n".join([paras[-1], *paras[1:-1], paras[0]])


def edited(text: str, every: int = 10) -> str:
    """Every `every`-th word replaced: a lightly edited rewrite."""
    out = []
    for para in paragraphs(text):
        words = para.split(" ")
        for i in range(every - 1, len(words), every):
            words[i] = _EDIT_WORDS[i % len(_EDIT_WORDS)]
        out.append(" ".join(words))
    return "\n\n".join(out)


def resent(text: str) -> str:
    """The same wire story re-sent: other case, quotes, dashes and spacing."""
    return "  " + text.upper().replace(",", " ,").replace("\n\n", "\n \n") + "  "
