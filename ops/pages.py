"""The GraphiQL page and its headers: a strict Content-Security-Policy that
allows only this origin, the page's own inline script and style (by their
sha256, computed from the file served), and no framing (docs/security.md)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from starlette.responses import HTMLResponse

GRAPHIQL_HTML = Path(__file__).resolve().parents[1] / "static/graphiql.html"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def graphiql_csp(html: str) -> str:
    """The policy for this page: scripts and styles from this origin plus the
    page's own inline script and style by hash: no 'unsafe-inline', no
    'unsafe-eval' (GraphiQL 3 and CodeMirror style elements through the CSSOM,
    which CSP allows; checked in Chromium by tests/ops/test_graphiql.py, which
    fails on any CSP violation report)."""
    scripts = " ".join(_sha256(s) for s in _INLINE_SCRIPT.findall(html))
    styles = " ".join(_sha256(s) for s in _INLINE_STYLE.findall(html))
    return (
        "default-src 'none'; "
        f"script-src 'self' {scripts}; "
        f"style-src 'self' {styles}; "
        "font-src 'self' data:; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def graphiql_headers(html: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": graphiql_csp(html),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def graphiql_page() -> HTMLResponse:
    html = GRAPHIQL_HTML.read_text()
    return HTMLResponse(html, headers=graphiql_headers(html))
