"""index.html: one self-contained page (inline CSS, plots embedded as data URIs)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from harness.report.atomic import write_text_atomic
from harness.report.load import RawData
from harness.report.profiles import load_index, profile_html
from harness.report.sections import Section, anchor, to_html

STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
.note{color:#555}"""


def write_page(raw: RawData, sections: list[Section], plots: list[Path], path: Path) -> Path:
    """Write index.html beside the plots; links to profiles/ when that folder exists."""
    run_dir = path.parent
    figures = "\n".join(_figure(plot) for plot in plots if plot.exists())
    body = [f"<h1>bobodiff benchmark - {html.escape(str(raw.env.get('run_id', run_dir.name)))}"
            "</h1>",
            "<p class='note'>Drawn from raw.jsonl alone (python -m harness charts RUN_DIR "
            "redraws it). Files: <a href='raw.jsonl'>raw.jsonl</a>, "
            "<a href='summary.csv'>summary.csv</a>, <a href='report.md'>report.md</a>.</p>",
            _contents(sections, run_dir), "<h2 id='plots'>Plots</h2>", figures,
            to_html(sections), "<div id='profiles'></div>", _profiles(run_dir)]
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>bobodiff benchmark</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
    return write_text_atomic(path, page)


def _contents(sections: list[Section], run_dir: Path) -> str:
    """A line of links to the parts of the page (headings get ids from their titles)."""
    links = ["<a href='#plots'>Plots</a>"]
    links += [f"<a href='#{anchor(s.title)}'>{html.escape(s.title.split(' - ')[0])}</a>"
              for s in sections if not s.title.startswith("Profile: ")]
    if (run_dir / "profiles").is_dir():
        links.append("<a href='#profiles'>Profile pictures</a>")
    return "<p class='note'>Contents: " + " · ".join(links) + "</p>"


def _figure(plot: Path) -> str:
    data = base64.b64encode(plot.read_bytes()).decode("ascii")
    name = html.escape(plot.name)
    return (f"<figure><a href='{name}'><img alt='{name}' data-file='{name}' "
            f"src='data:image/png;base64,{data}'></a><figcaption>{name}</figcaption></figure>")


def _profiles(run_dir: Path) -> str:
    folder = run_dir / "profiles"
    if not folder.is_dir():
        return ""
    records = load_index(run_dir)
    if records:
        return profile_html(run_dir, records)
    links = "".join(f"<li><a href='profiles/{html.escape(p.name)}'>{html.escape(p.name)}</a></li>"
                    for p in sorted(folder.iterdir()))
    return ("<h2>Profiles</h2><p class='note'>Profiling runs are separate from timing runs "
            f"(profilers distort time).</p><ul>{links}</ul>")
