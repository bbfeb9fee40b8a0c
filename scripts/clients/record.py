#!/usr/bin/env python3
"""Record the exact HTTP requests the official clients send.

    target/venv-clients/bin/python scripts/clients/record.py [-o scripts/clients/recorded-requests.txt]

Starts a small fake DeepL/LibreTranslate server (http.server) on 127.0.0.1 (a free port) that
logs every request (request line, headers in the order received, raw body) and answers with
canned, valid DeepL/LibreTranslate JSON; runs every check of run.py against it with the fake key
below; then probes how the clients react to error statuses and incomplete responses. Writes the
whole log to the output file. Loopback only.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (also clears proxy variables)

import deepl  # noqa: E402
from libretranslatepy import LibreTranslateAPI  # noqa: E402

KEY = "fake-key-123"


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.log: list[str] = []
        self.label = "(none)"
        self.count_in_label = 0
        # (status, body bytes, extra headers) answered to every request while set.
        self.override: tuple[int, bytes, dict] | None = None
        self.times: list[float] = []
        self.recording = True

    def section(self, label: str):
        with self.lock:
            self.finish_section()
            self.label = label
            self.count_in_label = 0
            self.log.append(f"\n### {label}\n")

    def finish_section(self):
        if self.label != "(none)" and self.count_in_label == 0:
            self.log.append("(no request sent)\n")


STATE = State()


def canned(method: str, path: str, query: dict, body: dict, headers) -> tuple[int, object]:
    """A valid answer, as the real services give it (the parts the clients read)."""
    auth = headers.get("Authorization", "")
    if path.startswith("/v2/"):
        if auth != f"DeepL-Auth-Key {KEY}":
            return 403, {"message": "Invalid authentication key"}
        if path == "/v2/translate" and method == "POST":
            texts = body.get("text", [])
            texts = [texts] if isinstance(texts, str) else texts
            target = str(body.get("target_lang", "")).upper()
            if target not in ("EN", "EN-GB", "EN-US"):
                return 400, {"message": "Value for 'target_lang' not supported."}
            return 200, {
                "translations": [
                    {
                        "detected_source_language": "NL",
                        "text": f"[{target}] {t}",
                        "billed_characters": len(t),
                    }
                    for t in texts
                ]
            }
        if path == "/v2/usage" and method == "GET":
            return 200, {"character_count": 180118, "character_limit": 1250000}
        if path == "/v2/languages" and method == "GET":
            kind = body.get("type") or query.get("type") or "source"
            if kind == "target":
                return 200, [
                    {"language": "EN-GB", "name": "English (British)", "supports_formality": False},
                    {"language": "EN-US", "name": "English (American)", "supports_formality": False},
                ]
            return 200, [{"language": "NL", "name": "Dutch"}]
        return 404, {"message": "Not found"}
    # LibreTranslate: the key travels in the body (form field api_key).
    if path == "/translate" and method == "POST":
        if body.get("api_key") != KEY:
            return 403, {"error": "Invalid API key"}
        if body.get("target") != "en":
            return 400, {"error": f"{body.get('target')} is not supported"}
        out = {"translatedText": f"[en] {body.get('q', '')}"}
        if body.get("source") == "auto":
            out["detectedLanguage"] = {"confidence": 90.0, "language": "nl"}
        return 200, out
    if path == "/languages" and method == "GET":
        return 200, [
            {"code": "en", "name": "English", "targets": []},
            {"code": "nl", "name": "Dutch", "targets": ["en"]},
        ]
    if path == "/detect" and method == "POST":
        return 200, [{"confidence": 90.0, "language": "nl"}]
    return 404, {"error": "Not Found"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-translate/1"
    sys_version = ""

    def log_message(self, *args):  # quiet
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parsed = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        body: dict = {}
        if raw:
            if ctype == "application/json":
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
            else:
                body = {}
                for k, v in urllib.parse.parse_qsl(raw.decode("utf-8", "replace"),
                                                   keep_blank_values=True):
                    body.setdefault(k, []).append(v)
                body = {k: (v[0] if len(v) == 1 else v) for k, v in body.items()}
        with STATE.lock:
            STATE.times.append(time.monotonic())
            override = STATE.override
        extra: dict = {}
        if override is not None:
            status, payload, extra = override
        else:
            status, obj = canned(self.command, parsed.path, query, body, self.headers)
            payload = json.dumps(obj).encode()
        lines = [self.requestline]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        lines.append("")
        lines.append(raw.decode("utf-8", "backslashreplace") if raw else "(no body)")
        lines.append(f"<-- {status} {payload.decode('utf-8', 'replace')[:200]}")
        with STATE.lock:
            STATE.count_in_label += 1
            if STATE.recording:
                STATE.log.append("\n".join(lines) + "\n\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def probe(label: str, fn) -> str:
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001
        return f"{label}: raises {run.exc_name(e)}: {run.one_line(e, 200)}"
    return f"{label}: returns {run.short(r, 100)}"


def probes(base: str) -> list[str]:
    """How the clients react to each error status / incomplete body (the fake answers with
    `override` to every request)."""
    out: list[str] = []

    def with_override(status, body: object, headers=None):
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        STATE.override = (status, payload, headers or {})

    def deepl_tr(text="Het kabinet valt."):
        t = deepl.Translator(KEY, server_url=base, send_platform_info=False)
        try:
            r = t.translate_text(text, target_lang="EN-GB")
            return {"text": r.text, "detected_source_lang": r.detected_source_lang,
                    "billed_characters": r.billed_characters}
        finally:
            t.close()

    def libre_tr():
        try:
            return LibreTranslateAPI(base, KEY).translate("Het kabinet valt.", "nl", "en", timeout=5)
        except urllib.error.HTTPError as e:
            raise type(e)(e.url, e.code, f"{e.reason}; body={e.read()[:80]!r}", e.hdrs, None)

    copydesk_err = {"error": {"code": "some_code", "message": "copydesk-shaped message"}}
    deepl_err = {"message": "deepl-shaped message", "detail": "some detail"}
    deepl.http_client.max_network_retries = 0
    for status in (400, 401, 403, 404, 413, 415, 422, 429, 456, 500, 503, 504):
        for shape, body in (("copydesk body", copydesk_err), ("DeepL body", deepl_err)):
            with_override(status, body)
            out.append(probe(f"deepl translate_text <- {status} ({shape})", deepl_tr))
    for status in (400, 401, 403, 429, 500):
        with_override(status, {"error": "libre-shaped message"})
        out.append(probe(f"libre translate <- {status}", libre_tr))

    STATE.override = None
    shapes = [
        ("translations item without billed_characters",
         {"translations": [{"detected_source_language": "NL", "text": "x"}]}),
        ("billed_characters as string '7'",
         {"translations": [{"detected_source_language": "NL", "text": "x", "billed_characters": "7"}]}),
        ("translations item with text only",
         {"translations": [{"text": "x", "billed_characters": 1}]}),
        ("empty translations list (str input)", {"translations": []}),
        ("no translations key", {}),
        ("non-JSON 200 body", b"hello"),
        ("400 with top-level message not a string", None),
    ]
    for label, body in shapes:
        if body is None:
            with_override(400, {"message": {"nested": True}})
        else:
            with_override(200, body)
        prefix = "" if body is None else "200 "
        out.append(probe(f"deepl translate_text <- {prefix}{label}", deepl_tr))
    with_override(200, {"character_count": 5})
    out.append(probe("deepl get_usage <- {character_count only}",
                     lambda: str(deepl.Translator(KEY, server_url=base,
                                                  send_platform_info=False).get_usage())))
    with_override(200, [{"language": "NL"}])
    out.append(probe("deepl get_source_languages <- [{language only}]",
                     lambda: deepl.Translator(KEY, server_url=base,
                                              send_platform_info=False).get_source_languages()))
    with_override(200, {"translatedText": ["a", "b"]})
    out.append(probe("libre translate <- translatedText as list",
                     lambda: LibreTranslateAPI(base, KEY).translate("x", "nl", "en", timeout=5)))
    with_override(200, {"text": "a"})
    out.append(probe("libre translate <- no translatedText", libre_tr))

    # 429 with the default retry settings shortened to 2 retries: when are the retries sent?
    deepl.http_client.max_network_retries = 2
    with_override(429, {"message": "slow down"}, {"Retry-After": "30"})
    with STATE.lock:
        STATE.times.clear()
    t0 = time.monotonic()
    r = probe("deepl translate_text <- 429 always, max_network_retries=2, Retry-After: 30",
              deepl_tr)
    with STATE.lock:
        gaps = [f"{t - t0:.2f}s" for t in STATE.times]
    out.append(f"{r} [requests at {', '.join(gaps)}; Retry-After ignored]")
    deepl.http_client.max_network_retries = 0
    STATE.override = None
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("-o", "--out", default=os.path.join(here, "recorded-requests.txt"))
    args = p.parse_args(argv)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"

    results: list[str] = []
    run.run_checks(run.Ctx(base, KEY, 10.0), before=STATE.section, out=results.append)
    # LibreTranslateAPI without an api_key (what run.py sends when run without --key).
    anon = LibreTranslateAPI(base)
    STATE.section("extra: libre.languages with api_key=None")
    probe("languages", lambda: anon.languages(timeout=5))
    STATE.section("extra: libre.translate with api_key=None (the fake wants a key: 403)")
    probe("translate", lambda: anon.translate("Het kabinet valt.", "nl", "en", timeout=5))
    with STATE.lock:
        STATE.finish_section()
        STATE.recording = False  # the probes' requests are not logged
    probe_lines = probes(base)
    server.shutdown()

    header = [
        "# Raw HTTP requests sent by the official clients",
        f"# deepl {deepl.__version__} (send_platform_info=False, max_network_retries=0),"
        " libretranslatepy " + _version("libretranslatepy") + f", Python {sys.version.split()[0]}",
        f"# Made by scripts/clients/record.py against a fake server on {base}"
        f" (port changes per run); key {KEY!r} is fake.",
        "# Each request: request line, headers as received (order kept), blank line, raw body,",
        "# then '<--' and the fake's canned answer. '### name' = the run.py check that sent it.",
        "",
        "## run.py against the fake (all should pass)",
        *results,
    ]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(header) + "\n")
        f.write("".join(STATE.log))
        f.write("\n## How the clients react to statuses and response shapes\n")
        f.write("\n".join(probe_lines) + "\n")
    print("\n".join(results))
    print("\n".join(probe_lines))
    print(f"wrote {args.out}")
    return 0


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    sys.exit(main())
