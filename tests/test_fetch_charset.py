"""decode_body: which charset a page is really in, when its declarations disagree or lie."""

from __future__ import annotations

import codecs

from workers.fetching.charset import declared_in_document, decode_body, normalise_charset

FRENCH = "Ça coûte 10 € – “déjà vu” à l'hôtel, naïve façon."
RUSSIAN = "Правительство объявило о новых мерах поддержки экономики и малого бизнеса в регионах."


def page(text: str, meta: str | None = None) -> str:
    head = f'<meta charset="{meta}">' if meta else ""
    return f"<html><head>{head}</head><body><p>{text}</p></body></html>"


def test_utf8_body_behind_a_stale_latin1_header_is_decoded_as_utf8() -> None:
    html = page(FRENCH, meta="utf-8")
    text, encoding = decode_body(html.encode("utf-8"), "text/html; charset=ISO-8859-1")
    assert (text, encoding) == (html, "utf-8")


def test_utf8_body_without_any_declaration_is_decoded_as_utf8() -> None:
    html = page(FRENCH)
    assert decode_body(html.encode("utf-8"), "text/html") == (html, "utf-8")


def test_legacy_body_behind_a_wrong_utf8_header_uses_its_meta() -> None:
    html = page(FRENCH, meta="windows-1252")
    text, encoding = decode_body(html.encode("windows-1252"), "text/html; charset=utf-8")
    assert (text, encoding) == (html, "windows-1252")


def test_latin1_label_decodes_windows_1252_punctuation() -> None:
    """Browsers read 'iso-8859-1' as windows-1252; the euro sign and curly quotes survive."""
    html = page(FRENCH)
    text, _ = decode_body(html.encode("windows-1252"), "text/html; charset=iso-8859-1")
    assert text == html


def test_cyrillic_meta_wins_over_a_default_latin1_header() -> None:
    html = page(RUSSIAN, meta="windows-1251")
    text, encoding = decode_body(html.encode("windows-1251"), "text/html; charset=iso-8859-1")
    assert (text, encoding) == (html, "cp1251")


def test_undeclared_legacy_body_is_detected() -> None:
    html = page(RUSSIAN * 3)
    text, _ = decode_body(html.encode("windows-1251"), "text/html")
    assert text == html


def test_byte_order_mark_wins_over_declarations() -> None:
    html = page(FRENCH)
    body = codecs.BOM_UTF16_LE + html.encode("utf-16-le")
    assert decode_body(body, "text/html; charset=iso-8859-1") == (html, "utf-16-le")


def test_ascii_body_reports_the_declared_charset() -> None:
    assert decode_body(b"<p>plain</p>", "text/html; charset=windows-1251") == (
        "<p>plain</p>",
        "cp1251",
    )


def test_undecodable_bytes_never_raise() -> None:
    text, _ = decode_body(b"<p>\xff\xfe\xfa\x80 broken \xc3</p>", "text/html; charset=utf-8")
    assert "broken" in text


def test_meta_http_equiv_and_xml_declarations_are_read() -> None:
    equiv = b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
    assert declared_in_document(equiv) == "shift-jis"
    assert (
        declared_in_document(b'<?xml version="1.0" encoding="ISO-8859-2"?><html/>') == "iso8859-2"
    )


def test_unknown_labels_are_ignored() -> None:
    assert normalise_charset("x-no-such-charset") is None
    assert normalise_charset("UTF8") == "utf-8"
