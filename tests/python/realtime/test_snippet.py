"""The browser snippet audiences.js: its size, and its behaviour in a real headless Chromium
(Debian `chromium`, installed by scripts/chromium_up.sh) on a page of another origin that
calls the real API over loopback."""

from __future__ import annotations

import gzip
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from realtime_http import PUBLISHABLE_KEY, free_socket, seed_batch, seed_live

ROOT = Path(__file__).resolve().parents[3]
SNIPPET = ROOT / "audiences" / "realtime" / "static" / "audiences.js"


def test_the_snippet_is_under_3_kb_gzipped():
    size = len(gzip.compress(SNIPPET.read_bytes(), compresslevel=9))
    assert size < 3 * 1024, f"audiences.js is {size} bytes gzipped; the budget is 3072"


def test_the_api_serves_the_snippet_and_the_demo_page(make_api):
    api = make_api(publishable_keys="pk_demo_1@http://127.0.0.1:1")
    js = requests.get(f"{api}/audiences.js", timeout=10)
    assert js.status_code == 200
    assert js.headers["Content-Type"].startswith("application/javascript")
    assert js.content == SNIPPET.read_bytes()
    demo = requests.get(f"{api}/demo", timeout=10)
    assert demo.status_code == 200
    assert 'src="/audiences.js"' in demo.text
    # the key of the server's own origin goes into the page; there is none here
    assert 'data-key=""' in demo.text and "pk_demo_1" not in demo.text
    own = api.replace("http://", "")
    api2 = make_api(publishable_keys=f"pk_demo_2@http://{own}")  # another port: no match
    assert "pk_demo_2" not in requests.get(f"{api2}/demo", timeout=10).text


# --- headless Chromium --------------------------------------------------------------------------


class PageServer:
    """Serves test pages from its own origin (another port than the API's)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, str | None] = {}
        self.by_id: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.root = attributes
        if "id" in attributes:
            self.by_id[str(attributes["id"])] = attributes


def page(api: str, *, cookie: str | None, cookie_name: str = "aud_anon_id", ttl: int = 60) -> str:
    set_cookie = (
        f'<script>document.cookie = "{cookie_name}={cookie}; path=/";</script>' if cookie else ""
    )
    attribute = f' data-cookie="{cookie_name}"' if cookie_name != "aud_anon_id" else ""
    return f"""<!doctype html>
<html lang="en"><head>{set_cookie}
<script src="{api}/audiences.js" data-key="{PUBLISHABLE_KEY}" data-api="{api}/"
  data-ttl="{ttl}"{attribute}></script>
</head><body>
<div id="cta-views" data-audience-show="viewed_product_3x_24h" hidden>Free shipping today</div>
<div id="cta-champions" data-audience-show="rfm_champions">Thank you, champion</div>
<div id="cta-either" data-audience-show="lapsed_customers viewed_product_3x_24h">Either</div>
<div id="plain">always shown</div>
</body></html>"""


def render(chromium: str, url: str, profile: Path) -> _Dom:
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _Dom()
    dom.feed(done.stdout)
    assert dom.by_id, f"the page did not render: {done.stdout[:500]}"
    return dom


def hidden(dom: _Dom) -> dict[str, bool]:
    return {
        name: "hidden" in dom.by_id[name]
        for name in ("cta-views", "cta-champions", "cta-either", "plain")
    }


NOW = datetime.now(UTC)


@pytest.fixture
def shop(make_api, pages, redis_client, keys):
    """The API with a publishable key for the page server's origin, and a seeded cache:
    anon-a is in viewed_product_3x_24h (live) and high_value (batch); anon-b in nothing."""
    api = make_api(publishable_keys=f"{PUBLISHABLE_KEY}@{pages.origin}")
    seed_batch(
        redis_client,
        keys,
        NOW - timedelta(hours=1),
        people={"u-1": ["high_value", "viewed_product_3x_24h"], "anon-b": []},
        ids={"anon-a": "u-1", "u-1": "u-1", "anon-b": "anon-b"},
    )
    seed_live(
        redis_client, keys, ["viewed_product_3x_24h"], people={"u-1": ["viewed_product_3x_24h"]}
    )
    return api


def test_a_member_sees_the_content_of_their_segments(chromium, shop, pages, tmp_path):
    pages.pages["/p"] = page(shop, cookie="anon-a")
    dom = render(chromium, f"{pages.origin}/p", tmp_path / "profile")
    assert dom.root["data-audience-segments"] == "high_value viewed_product_3x_24h"
    assert dom.root["data-audience-state"] == "fresh"
    assert hidden(dom) == {
        "cta-views": False,
        "cta-champions": True,
        "cta-either": False,
        "plain": False,
    }


def test_a_non_member_sees_none_of_the_marked_content(chromium, shop, pages, tmp_path):
    pages.pages["/p"] = page(shop, cookie="anon-b", cookie_name="shop_vid")
    dom = render(chromium, f"{pages.origin}/p", tmp_path / "profile")
    assert dom.root["data-audience-segments"] == ""
    assert dom.root["data-audience-state"] == "fresh"
    assert hidden(dom) == {
        "cta-views": True,
        "cta-champions": True,
        "cta-either": True,
        "plain": False,
    }


def test_an_unknown_visitor_and_a_visitor_without_cookie_see_none(chromium, shop, pages, tmp_path):
    pages.pages["/unknown"] = page(shop, cookie="anon-never-seen")
    pages.pages["/nocookie"] = page(shop, cookie=None)
    for path, state in (("/unknown", "unknown"), ("/nocookie", "anonymous")):
        dom = render(chromium, f"{pages.origin}{path}", tmp_path / path.strip("/"))
        assert dom.root["data-audience-state"] == state
        assert dom.root["data-audience-segments"] == ""
        assert hidden(dom)["cta-views"] and hidden(dom)["cta-champions"]


def test_the_snippet_fails_closed_when_the_api_answers_503(
    chromium, make_api, pages, redis_client, keys, tmp_path
):
    api = make_api(publishable_keys=f"{PUBLISHABLE_KEY}@{pages.origin}")
    # the stream knows anon-a but the batch cache is cold: the API answers 503
    seed_live(
        redis_client,
        keys,
        ["viewed_product_3x_24h"],
        people={"u-1": ["viewed_product_3x_24h"]},
        ids={"anon-a": "u-1"},
    )
    answer = requests.get(
        f"{api}/v1/profiles/anon-a/segments",
        headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}", "Origin": pages.origin},
        timeout=10,
    )
    assert answer.status_code == 503
    pages.pages["/p"] = page(api, cookie="anon-a")
    dom = render(chromium, f"{pages.origin}/p", tmp_path / "profile")
    assert dom.root["data-audience-state"] == "error"
    assert dom.root["data-audience-segments"] == ""
    assert hidden(dom) == {
        "cta-views": True,
        "cta-champions": True,
        "cta-either": True,
        "plain": False,
    }


def test_the_answer_is_cached_for_the_ttl(chromium, shop, pages, redis_client, keys, tmp_path):
    profile = tmp_path / "profile"
    pages.pages["/cached"] = page(shop, cookie="anon-a", ttl=600)
    pages.pages["/uncached"] = page(shop, cookie="anon-a", ttl=0)
    assert (
        render(chromium, f"{pages.origin}/cached", profile).root["data-audience-state"] == "fresh"
    )
    # anon-a leaves the segment; within the TTL the same browser keeps its cached answer
    redis_client.srem(keys.live_segments("u-1"), "viewed_product_3x_24h")
    again = render(chromium, f"{pages.origin}/cached", profile)
    assert again.root["data-audience-state"] == "cached"
    assert again.root["data-audience-segments"] == "high_value viewed_product_3x_24h"
    fresh = render(chromium, f"{pages.origin}/uncached", profile)
    assert fresh.root["data-audience-state"] == "fresh"
    assert fresh.root["data-audience-segments"] == "high_value"
    assert hidden(fresh)["cta-views"]


def test_the_demo_page_works_on_the_servers_own_origin(
    chromium, make_api, redis_client, keys, tmp_path
):
    # a same-origin GET carries no Origin header: the page's origin is the server's own
    sock = free_socket()
    own = f"http://127.0.0.1:{sock.getsockname()[1]}"
    api = make_api(sock=sock, publishable_keys=f"pk_demo_own@{own}")
    assert api == own
    seed_batch(
        redis_client,
        keys,
        NOW - timedelta(hours=1),
        people={"u-1": ["high_value"]},
        ids={"anon-a": "u-1"},
    )
    seed_live(
        redis_client, keys, ["viewed_product_3x_24h"], people={"u-1": ["viewed_product_3x_24h"]}
    )
    dom = render(chromium, f"{api}/demo?anon=anon-a", tmp_path / "profile")
    assert dom.root["data-audience-segments"] == "high_value viewed_product_3x_24h"
    assert "hidden" not in dom.by_id["cta-viewed"]
    assert "hidden" in dom.by_id["cta-abandoned"]
    assert "hidden" in dom.by_id["missing-key"]  # the key was found
