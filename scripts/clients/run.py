#!/usr/bin/env python3
"""Run the official DeepL (`deepl`) and LibreTranslate (`libretranslatepy`) Python clients
against a running copydesk server (or anything that speaks those APIs).

    python scripts/clients/run.py [--url http://127.0.0.1:8080] [--key KEY] [--timeout S]

Starts nothing itself. Prints one line per call, `PASS name: <short result>` or
`FAIL name: <exception type>: <message>` (and `SKIP name: why` for checks that need --key),
then exactly `N passed, M failed`. Exit code 0 if nothing failed, else 1.

`record.py` imports `CHECKS` from here to run the same calls against a recording fake server.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error

# Loopback only: never route these requests through a proxy from the environment. Done before
# the clients build their sessions/openers (requests reads the environment per request, urllib
# builds its default opener on the first urlopen).
for _var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"

import deepl  # noqa: E402
from deepl import Formality, SplitSentences  # noqa: E402
from libretranslatepy import LibreTranslateAPI  # noqa: E402

NL = "Het kabinet valt."
NL2 = "De premier treedt af."
NON_ASCII = "Één café in Zürich kost €5 – “goedkoop”."


class Ctx:
    """What every check gets: the base URL, the key (or None) and the timeout."""

    def __init__(self, url: str, key: str | None, timeout: float):
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def translator(self, key: str | None = None) -> deepl.Translator:
        # The DeepL client refuses an empty key; a server without keys ignores whatever comes.
        return deepl.Translator(
            key or self.key or "no-key-configured",
            server_url=self.url,
            send_platform_info=False,
        )

    def libre(self, key: str | None = None) -> LibreTranslateAPI:
        return LibreTranslateAPI(self.url, key if key is not None else self.key)


class Skip(Exception):
    pass


CHECKS: list[tuple[str, object]] = []


def check(name: str):
    def register(fn):
        CHECKS.append((name, fn))
        return fn

    return register


def short(value, limit: int = 60) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def describe(r) -> str:
    """A TextResult in a few words, after checking what a caller relies on."""
    if not isinstance(r, deepl.TextResult):
        raise AssertionError(f"expected TextResult, got {type(r).__name__}")
    if not isinstance(r.text, str):
        raise AssertionError(f"text is {type(r.text).__name__}, not str")
    if not isinstance(r.billed_characters, int):
        raise AssertionError("billed_characters is not an int")
    return (
        f"text={short(r.text)} detected={r.detected_source_lang!r} "
        f"billed={r.billed_characters}"
    )


def translate(ctx: Ctx, text=NL, **kw):
    t = ctx.translator()
    try:
        return t.translate_text(text, **kw)
    finally:
        t.close()


# --- deepl: constructor ---------------------------------------------------------------------


@check("deepl.Translator(server_url)")
def _(ctx):
    t = ctx.translator()
    try:
        if t.server_url != ctx.url:
            raise AssertionError(f"server_url is {t.server_url!r}")
        return f"server_url={t.server_url!r} (no request is made by the constructor)"
    finally:
        t.close()


@check("deepl.Translator(':fx' key, no server_url)")
def _(ctx):
    # Pure client-side behaviour, no request: a key ending in ":fx" selects the Free API host.
    t = deepl.Translator("0000:fx", send_platform_info=False)
    u = deepl.Translator("0000", send_platform_info=False)
    try:
        return f"':fx' -> {t.server_url}, other -> {u.server_url}"
    finally:
        t.close()
        u.close()


# --- deepl: translate_text --------------------------------------------------------------------


@check("deepl.translate_text[str, EN-GB]")
def _(ctx):
    return describe(translate(ctx, target_lang="EN-GB"))


@check("deepl.translate_text[list, EN-GB]")
def _(ctx):
    rs = translate(ctx, [NL, NL2], target_lang="EN-GB")
    if not isinstance(rs, list) or len(rs) != 2:
        raise AssertionError(f"expected a list of 2 results, got {short(rs)}")
    return "; ".join(describe(r) for r in rs)


@check("deepl.translate_text[non-ASCII]")
def _(ctx):
    return describe(translate(ctx, NON_ASCII, target_lang="EN-GB"))


@check("deepl.translate_text[EN-US]")
def _(ctx):
    return describe(translate(ctx, target_lang="EN-US"))


@check("deepl.translate_text[EN]")
def _(ctx):
    # deepl-python rejects target_lang="EN" itself (deprecated) before sending anything.
    try:
        r = translate(ctx, target_lang="EN")
    except deepl.DeepLException as e:
        if e.http_status_code is None and "deprecated" in str(e):
            return f"rejected by the client, nothing sent ({e})"
        raise
    return "sent and answered: " + describe(r)


@check("deepl.translate_text[en-gb lowercase]")
def _(ctx):
    return describe(translate(ctx, target_lang="en-gb"))


@check("deepl.translate_text[source_lang omitted]")
def _(ctx):
    r = translate(ctx, target_lang="EN-GB")
    if not r.detected_source_lang:
        raise AssertionError("detected_source_language is empty")
    return describe(r)


@check("deepl.translate_text[source_lang=NL]")
def _(ctx):
    return describe(translate(ctx, source_lang="NL", target_lang="EN-GB"))


for _value in ("0", "1", "nonewlines", SplitSentences.OFF, SplitSentences.ALL,
               SplitSentences.NO_NEWLINES):

    def _split(ctx, value=_value):
        return describe(
            translate(ctx, NL + "\n" + NL2, target_lang="EN-GB", split_sentences=value)
        )

    _label = _value if isinstance(_value, str) else f"SplitSentences.{_value.name}"
    check(f"deepl.translate_text[split_sentences={_label}]")(_split)

for _value in (True, False):

    def _preserve(ctx, value=_value):
        return describe(translate(ctx, target_lang="EN-GB", preserve_formatting=value))

    check(f"deepl.translate_text[preserve_formatting={_value}]")(_preserve)

for _value in ("html", "xml"):

    def _tags(ctx, value=_value):
        return describe(
            translate(ctx, f"<p>{NL}</p>", target_lang="EN-GB", tag_handling=value)
        )

    check(f"deepl.translate_text[tag_handling={_value}]")(_tags)


@check("deepl.translate_text[context]")
def _(ctx):
    return describe(
        translate(ctx, target_lang="EN-GB", context="Politiek nieuws uit Den Haag.")
    )


for _value in ("more", "prefer_less", Formality.DEFAULT):

    def _formality(ctx, value=_value):
        return describe(translate(ctx, target_lang="EN-US", formality=value))

    _label = _value if isinstance(_value, str) else f"Formality.{_value.name}"
    check(f"deepl.translate_text[formality={_label}]")(_formality)


# --- deepl: usage and languages ---------------------------------------------------------------


@check("deepl.get_usage")
def _(ctx):
    t = ctx.translator()
    try:
        u = t.get_usage()
    finally:
        t.close()
    c = u.character
    return (
        f"character={c} (count={c.count}, limit={c.limit}), "
        f"any_limit_reached={u.any_limit_reached}"
    )


@check("deepl.get_source_languages")
def _(ctx):
    t = ctx.translator()
    try:
        langs = t.get_source_languages()
    finally:
        t.close()
    codes = [lang.code for lang in langs]
    if "NL" not in [c.upper() for c in codes]:
        raise AssertionError(f"NL not among the source languages {codes}")
    return ", ".join(f"{lang.code} ({lang.name})" for lang in langs)


@check("deepl.get_target_languages")
def _(ctx):
    t = ctx.translator()
    try:
        langs = t.get_target_languages()
    finally:
        t.close()
    codes = [lang.code.upper() for lang in langs]
    if not any(c in ("EN-GB", "EN-US") for c in codes):
        raise AssertionError(f"neither EN-GB nor EN-US among the target languages {codes}")
    return ", ".join(
        f"{lang.code} ({lang.name}, formality={lang.supports_formality})" for lang in langs
    )


# --- deepl: glossaries ------------------------------------------------------------------------


@check("deepl glossaries: create, get, list, entries, use, delete")
def _(ctx):
    t = ctx.translator()
    try:
        pairs = t.get_glossary_languages()
        if not any(p.source_lang.upper() == "NL" and p.target_lang.upper() == "EN" for p in pairs):
            raise AssertionError(f"NL->EN not among the glossary pairs {pairs}")
        g = t.create_glossary("desk", source_lang="NL", target_lang="EN", entries={"kabinet": "cabinet"})
        if (g.entry_count, g.ready, g.source_lang, g.target_lang) != (1, True, "NL", "EN"):
            raise AssertionError(f"created {g}")
        if t.get_glossary(g.glossary_id).name != "desk":
            raise AssertionError("get_glossary returned another glossary")
        if g.glossary_id not in [x.glossary_id for x in t.list_glossaries()]:
            raise AssertionError("list_glossaries misses the new glossary")
        if t.get_glossary_entries(g) != {"kabinet": "cabinet"}:
            raise AssertionError(f"entries {t.get_glossary_entries(g)}")
        r = t.translate_text("Het kabinet valt.", source_lang="NL", target_lang="EN-GB", glossary=g)
        if "cabinet" not in r.text:
            raise AssertionError(f"glossary term not in {r.text!r}")
        r2 = t.translate_text_with_glossary("Het kabinet valt.", g)
        if "cabinet" not in r2.text:
            raise AssertionError(f"glossary term not in {r2.text!r}")
        c = t.create_glossary_from_csv("csv", source_lang="NL", target_lang="EN", csv_data="Tweede Kamer,House of Representatives\n")
        t.delete_glossary(c)
        t.delete_glossary(g.glossary_id)
        try:
            t.get_glossary(g.glossary_id)
        except deepl.GlossaryNotFoundException:
            pass
        else:
            raise AssertionError("a deleted glossary was found")
        return f"glossary {g.glossary_id}: {describe(r)}; csv glossary {c.entry_count} entry, deleted"
    finally:
        t.close()


# --- deepl: errors ----------------------------------------------------------------------------


@check("deepl.translate_text[wrong key] -> AuthorizationException")
def _(ctx):
    if not ctx.key:
        raise Skip("needs --key (the server must require a key)")
    t = ctx.translator(key=ctx.key + "-wrong")
    try:
        t.translate_text(NL, target_lang="EN-GB")
    except deepl.AuthorizationException as e:
        return f"AuthorizationException (HTTP {e.http_status_code}): {e}"
    finally:
        t.close()
    raise AssertionError("a wrong key was accepted")


@check("deepl.translate_text[target_lang=DE] -> DeepLException")
def _(ctx):
    try:
        translate(ctx, target_lang="DE")
    except deepl.ConnectionException:
        raise  # the server dropped the connection: that is a failure
    except deepl.DeepLException as e:
        return f"{type(e).__name__} (HTTP {e.http_status_code}): {e}"
    raise AssertionError("target_lang DE was translated")


# --- libretranslatepy -------------------------------------------------------------------------


@check("libre.translate[nl->en]")
def _(ctx):
    r = ctx.libre().translate(NL, "nl", "en", timeout=ctx.timeout)
    if not isinstance(r, str):
        raise AssertionError(f"translatedText is {type(r).__name__}, not str")
    return f"translatedText={short(r)}"


@check("libre.translate[auto->en]")
def _(ctx):
    r = ctx.libre().translate(NL, "auto", "en", timeout=ctx.timeout)
    if not isinstance(r, str):
        raise AssertionError(f"translatedText is {type(r).__name__}, not str")
    return f"translatedText={short(r)}"


@check("libre.translate[non-ASCII]")
def _(ctx):
    r = ctx.libre().translate(NON_ASCII, "nl", "en", timeout=ctx.timeout)
    if not isinstance(r, str):
        raise AssertionError(f"translatedText is {type(r).__name__}, not str")
    return f"translatedText={short(r)}"


@check("libre.languages")
def _(ctx):
    r = ctx.libre().languages(timeout=ctx.timeout)
    if not isinstance(r, list) or not all(isinstance(x, dict) for x in r):
        raise AssertionError(f"expected a list of objects, got {short(r)}")
    codes = [x.get("code") for x in r]
    if "nl" not in codes:
        raise AssertionError(f"nl not among {codes}")
    return ", ".join(f"{x.get('code')} -> {x.get('targets')}" for x in r)


@check("libre.detect")
def _(ctx):
    r = ctx.libre().detect(NL, timeout=ctx.timeout)
    if not isinstance(r, list) or not r or not isinstance(r[0], dict) or "language" not in r[0]:
        raise AssertionError(f"expected [{{language, confidence}}, ...], got {short(r)}")
    return short(r, 100)


@check("libre.translate[wrong key] -> HTTPError 4xx")
def _(ctx):
    if not ctx.key:
        raise Skip("needs --key (the server must require a key)")
    try:
        ctx.libre(key=ctx.key + "-wrong").translate(NL, "nl", "en", timeout=ctx.timeout)
    except urllib.error.HTTPError as e:
        if 400 <= e.code < 500:
            return f"HTTPError {e.code}"
        raise
    raise AssertionError("a wrong key was accepted")


@check("libre.translate[target=de] -> HTTPError 4xx")
def _(ctx):
    # libretranslatepy raises HTTPError for every status >= 400 alike; LibreTranslate says 400.
    try:
        ctx.libre().translate(NL, "nl", "de", timeout=ctx.timeout)
    except urllib.error.HTTPError as e:
        if 400 <= e.code < 500:
            return f"HTTPError {e.code}" + ("" if e.code == 400 else " (LibreTranslate: 400)")
        raise
    raise AssertionError("target de was translated")


# --- runner -----------------------------------------------------------------------------------


def exc_name(e: BaseException) -> str:
    t = type(e)
    mod = t.__module__
    return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"


def one_line(s: str, limit: int = 300) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def configure_deepl(timeout: float) -> None:
    # No retries (429 and 5xx would otherwise be retried 5 times with backoff from 1 s), and a
    # short per-request timeout (deepl uses max(backoff deadline, min_connection_timeout)).
    deepl.http_client.max_network_retries = 0
    deepl.http_client.min_connection_timeout = timeout


def run_checks(ctx: Ctx, before=None, out=print) -> tuple[int, int]:
    configure_deepl(ctx.timeout)
    passed = failed = 0
    for name, fn in CHECKS:
        if before is not None:
            before(name)
        try:
            result = fn(ctx)
        except Skip as e:
            out(f"SKIP {name}: {e}")
            continue
        except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
            failed += 1
            out(f"FAIL {name}: {exc_name(e)}: {one_line(e)}")
        else:
            passed += 1
            out(f"PASS {name}: {one_line(result)}")
    out(f"{passed} passed, {failed} failed")
    return passed, failed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    p.add_argument("--key", default=None, help="the server's API key, if it requires one")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (30)")
    args = p.parse_args(argv)
    _, failed = run_checks(Ctx(args.url, args.key, args.timeout))
    sys.stdout.flush()
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
