"""Light pages: every text response compressed, static assets under content-hashed names cached for
good, and the service worker's precache list the very URLs the pages load."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.factories import login
from tests.surveys.factories import make_survey
from web.assets import IMMUTABLE, REVALIDATE, AssetIndex, get_index, hashed_name, static_url

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
GZIP = {"Accept-Encoding": "gzip"}


def _raw_size(response) -> int:
    return int(response.headers["content-length"])


def test_it_names_assets_by_their_content(tmp_path):
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_text("var a = 1;")
    (tmp_path / "js" / "a.js.br").write_bytes(b"not an asset")
    index = AssetIndex(tmp_path)
    url = index.url("js/a.js")
    assert re.fullmatch(r"/static/js/a\.[0-9a-f]{10}\.js", url)
    assert "js/a.js.br" not in index.assets
    (tmp_path / "js" / "a.js").write_text("var a = 2;")
    assert AssetIndex(tmp_path).url("js/a.js") != url
    assert hashed_name("vendor/htmx/htmx.min.js", "0123456789") == "vendor/htmx/htmx.min.0123456789.js"
    with pytest.raises(KeyError):
        index.url("js/missing.js")


def test_it_serves_hashed_names_immutable_and_plain_names_briefly(client):
    url = static_url("js/konbit.js")
    body = (STATIC / "js" / "konbit.js").read_bytes()
    hashed = client.get(url)
    assert hashed.status_code == 200 and hashed.content == body
    assert hashed.headers["cache-control"] == IMMUTABLE
    assert hashed.headers["content-type"].startswith("text/javascript")
    plain = client.get("/static/js/konbit.js")
    assert plain.content == body and plain.headers["cache-control"] == REVALIDATE
    assert client.get("/static/js/konbit.js", headers={"If-None-Match": plain.headers["etag"]}).status_code == 304
    # a name that is not a file, or tries to leave the folder
    assert client.get("/static/js/konbit.0000000000.js").status_code == 404
    assert client.get("/static/../web/app.py").status_code == 404
    assert client.head(url).status_code == 200


@pytest.mark.parametrize("name", ["css/konbit.css", "js/collect.js", "js/xlsexpr.js", "manifest.webmanifest",
                                  "vendor/plotly/plotly.css"])
def test_text_assets_go_out_gzipped(client, name):
    r = client.get(static_url(name), headers=GZIP)
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert _raw_size(r) < len(r.content) / 2  # httpx decoded it: the gzip is of the same bytes
    plain = client.get(static_url(name), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == r.content


def test_images_are_not_compressed_again(client):
    r = client.get(static_url("img/konbit-192.png"), headers=GZIP)
    assert "content-encoding" not in r.headers and r.headers["content-type"] == "image/png"


def test_vendored_files_go_out_as_brotli_to_browsers_that_take_it(client):
    r = client.get(static_url("vendor/htmx/htmx.min.js"), headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert r.headers["content-encoding"] == "br"
    assert _raw_size(r) == (STATIC / "vendor" / "htmx" / "htmx.min.js.br").stat().st_size
    # brotli refused: gzip
    r = client.get(static_url("vendor/htmx/htmx.min.js"), headers={"Accept-Encoding": "gzip, br;q=0"})
    assert r.headers["content-encoding"] == "gzip"


@pytest.mark.skipif(not shutil.which("node"), reason="node decompresses the brotli copies")
def test_each_brotli_copy_is_of_its_file_as_it_is_now():
    """A vendored file changed without `make vendor-br` would send browsers the old one."""
    script = ("const z=require('zlib'),fs=require('fs');for(const f of process.argv.slice(1)){"
              "if(!z.brotliDecompressSync(fs.readFileSync(f+'.br')).equals(fs.readFileSync(f)))"
              "{console.log(f);process.exitCode=1}}")
    copies = sorted(str(p)[:-3] for p in STATIC.rglob("*.br"))
    assert copies
    done = subprocess.run(["node", "-e", script, *copies], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"stale .br, run make vendor-br: {done.stdout}"


def test_pages_and_json_go_out_gzipped_with_their_headers(client, personas):
    page = client.get("/login", headers=GZIP)
    assert page.headers["content-encoding"] == "gzip" and "Accept-Encoding" in page.headers["vary"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert _raw_size(page) < len(page.content) * 0.6
    login(client, "alice")
    home = client.get("/", headers=GZIP)
    assert home.headers["content-encoding"] == "gzip" and home.headers["cache-control"] == "no-store"
    # an HTMX fragment too, when it is worth it; a tiny answer is sent as it is
    assert client.get("/healthz", headers=GZIP).headers.get("content-encoding") is None


def test_the_pages_link_hashed_assets_only(client, personas):
    login(client, "alice")
    html = client.get("/").text
    linked = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert linked and all(re.search(r"\.[0-9a-f]{10}\.[a-z]+$", url) for url in linked), linked
    assert static_url("vendor/htmx/htmx.min.js") in html


def test_the_service_worker_precaches_the_hashed_urls_the_form_loads(client, engine, personas):
    made = make_survey(engine, actor=personas["leo"])
    login(client, "eddy")
    html = client.get(f"/collect/{made.id}/{made.baseline.id}").text
    loaded = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    sw = client.get("/sw.js").text
    precached = set(re.findall(r"'(/static/[^']+)'", sw))
    assert loaded <= precached, loaded - precached
    assert all(get_index().lookup(url.removeprefix("/static/"))[1] for url in precached)  # hashed names
    # no {cache: 'reload'}: what the page loaded comes from the HTTP cache, not the network again
    assert "reload" not in sw and re.search(r"var VERSION = 'konbit-collect-[0-9a-f]{10}';", sw)
    assert client.get("/sw.js", headers=GZIP).headers["content-encoding"] == "gzip"
    # the browser's update check at every page it controls: a 304 when nothing changed
    again = client.get("/sw.js", headers={"If-None-Match": client.get("/sw.js").headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_a_streamed_csv_export_still_arrives_whole_when_gzipped(client, engine, personas):
    made = make_survey(engine, actor=personas["leo"])
    login(client, "leo")
    plain = client.get(f"/surveys/{made.id}/export/download?format=csv", headers={"Accept-Encoding": "identity"})
    packed = client.get(f"/surveys/{made.id}/export/download?format=csv", headers=GZIP)
    assert plain.status_code == packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip" and "content-length" not in packed.headers
    assert packed.content == plain.content and plain.content.count(b"\n") >= 1


def test_spreadsheets_are_not_gzipped_again(client, engine, personas):
    made = make_survey(engine, actor=personas["leo"])
    login(client, "leo")
    r = client.get(f"/surveys/{made.id}/export/download?format=xlsx", headers=GZIP)
    assert r.status_code == 200 and "content-encoding" not in r.headers and r.content[:2] == b"PK"
