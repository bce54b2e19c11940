"""HTML pages: one self-contained page per executed notebook, and the index of a run.

A notebook page (:func:`to_html`) hides the code, embeds figures as data URIs and inlines the
stylesheet, so it reads offline and from a file. Nothing is fetched from the network: the lab
template's require.js and MathJax links are removed, which is why the notebooks write no TeX in their
markdown (Unicode instead: t₀, ≤, ×); :func:`unrenderable_outputs` is the check.

An output the page cannot show (a MIME type the exporter has no renderer for, such as a Plotly figure
without its renderer, or a widget) would vanish from the page with the run still "ok". Such outputs are
listed by :func:`unrenderable_outputs`, and the runner marks the page as failed, naming cell and type.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import formatting as F
from .records import RECORD_MIME

#: MIME types the HTML pages show; any other type in an output is reported (our record type is
#: shown through its ``text/plain`` twin and never needs rendering).
RENDERABLE = frozenset({
    "text/html", "text/markdown", "text/plain", "image/png", "image/jpeg", "image/svg+xml",
    "application/pdf", "text/latex",
})
IGNORED = frozenset({RECORD_MIME})

#: Added to every page: printed lines wrap between words (the lab template breaks them anywhere), and a
#: table wider than the page scrolls sideways instead of being cut off.
PAGE_CSS = """<style>
.jp-OutputArea-output pre, .jp-RenderedText pre { white-space: pre-wrap !important; word-break: normal !important;
  overflow-wrap: break-word !important; }
.jp-RenderedHTMLCommon table { display: block; max-width: 100%; overflow-x: auto; }
</style>
"""

_TEX = re.compile(r"(?<![\\$\w])\$(?!\s)[^$\n]+?(?<!\s)\$(?![\w$])|\$\$.+?\$\$|\\\(|\\\[", re.S)


def tex_in_markdown(nb: Any) -> list[str]:
    """Snippets of TeX (``$...$``, ``$$...$$``, ``\\(``, ``\\[``) in a notebook's markdown cells and
    markdown outputs; the offline pages cannot typeset them."""
    found = []
    for i, c in enumerate(nb.cells):
        texts = [c.source] if c.cell_type == "markdown" else [
            o.get("data", {}).get("text/markdown", "") for o in c.get("outputs", [])]
        for t in texts:
            t = "".join(t) if isinstance(t, list) else t
            t = re.sub(r"`[^`]*`", "", t)  # code spans may hold a dollar sign
            for m in _TEX.finditer(t):
                found.append(f"cell {i}: {m.group(0)[:40]!r}")
    return found


def unrenderable_outputs(nb: Any) -> list[str]:
    """``"cell N: mime/type"`` for every output whose MIME types include one the pages cannot show."""
    problems = []
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            for mime in o.get("data", {}):
                if mime not in RENDERABLE and mime not in IGNORED:
                    problems.append(f"cell {i}: {mime}")
    return problems


def to_html(executed: Path, target: Path, parameters: Mapping[str, Any] | None = None) -> list[str]:
    """Export an executed notebook to self-contained HTML with the code hidden (module docstring).

    A short header lists the parameters the notebook ran with. Returns the problems found
    (:func:`unrenderable_outputs`, :func:`tex_in_markdown`): empty when the page shows everything.
    The page is written either way, with the problems listed at its top.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    problems = [f"output the page cannot show ({p})" for p in unrenderable_outputs(nb)]
    problems += [f"TeX the offline page cannot typeset ({p})" for p in tex_in_markdown(nb)]
    for c in nb.cells:  # headline numbers read as on the index (rounded by the one rule), not as Python reprs
        for o in c.get("outputs", []):
            rec = o.get("data", {}).get(RECORD_MIME)
            if isinstance(rec, dict) and "name" in rec:
                o["data"]["text/plain"] = f"{rec['name']} = {format_record(rec.get('value'), rec.get('kind'))}"
    head = []
    panel = parameters_panel(executed, parameters or {})
    if panel:
        head.append(panel)
    if problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        head.append(f'<div style="color:#cf222e"><strong>This page is incomplete:</strong><ul>{items}</ul></div>')
    if head:
        nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0,
                        nbformat.v4.new_markdown_cell("\n".join(head)))
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    # the lab template links require.js and MathJax from a CDN; the pages use neither
    body = re.sub(r'<script[^>]*src="https?://[^"]*"[^>]*>\s*</script>\s*', "", body)
    body = body.replace("</head>", PAGE_CSS + "</head>", 1)
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(target)
    return problems


def parameters_panel(executed: Path, injected: Mapping[str, Any]) -> str:
    """The page's parameter table: every parameter the notebook declares, with the value it ran with
    (``injected`` by the runner, else the declared default), where the value came from and the
    declaration's comment, so the prose's parameter names resolve on the page. Empty when the notebook
    declares none and nothing was injected."""
    from .params import declared_parameters

    try:
        declared = declared_parameters(executed)
    except ValueError:
        declared = {}
    rows = []
    for name in list(declared) + [k for k in injected if k not in declared]:
        if name in injected:
            v = injected[name]
            shown, origin = (repr(v) if isinstance(v, str) else str(v)), "this run"  # as given: a setting, not a result
        else:
            shown, origin = declared[name]["default"], "notebook default"
        meaning = declared.get(name, {}).get("help", "")
        rows.append(f"<tr><td><code>{html.escape(name)}</code></td><td><code>{html.escape(shown)}</code></td>"
                    f"<td>{origin}</td><td>{html.escape(meaning)}</td></tr>")
    if not rows:
        return ""
    return ("<details open><summary>Parameters</summary><table><thead><tr><th>parameter</th><th>value</th>"
            "<th>set by</th><th>meaning</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></details>")


def format_record(value: Any, kind: str | None = None) -> str:
    """A recorded value for the index, by the one formatting rule (:mod:`retention_utils.formatting`):
    ``None`` as a dash, a two-number list as an interval, lists and dicts item by item (an empty one
    as ``none``); a ``timing`` record's numbers as seconds to 0.1 s (``2.5 s``)."""
    if kind == "timing" and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.1f} s"
    if isinstance(value, list | dict) and len(value) == 0:
        return "none"
    if isinstance(value, list):
        if kind != "timing" and len(value) == 2 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return f"{F.number(value[0])} – {F.number(value[1])}"
        return ", ".join(format_record(v, kind) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {format_record(v, kind)}" for k, v in value.items())
    if isinstance(value, float) and abs(value) >= 10**F.DIGITS:
        return F.number(value, decimals=0)
    return F.number(value)


def index_page(title: str, config_name: str, runs: Sequence[Any], caveat: str = "") -> str:
    """The index of a run: one row per notebook (link, status, duration, headline numbers), under the
    dataset config's ``caveat:`` when it has one (e.g. that the data are simulated)."""
    rows = []
    for r in runs:
        link = f'<a href="{html.escape(r.html)}">{html.escape(r.title)}</a>' if r.html else html.escape(r.title)
        lead = getattr(r, "lead", "")
        link += f'<div class="lead">{html.escape(lead)}</div>' if lead else ""
        kinds = getattr(r, "record_kinds", {})
        recs = "".join(f"<li><code>{html.escape(k)}</code> = {html.escape(format_record(v, kinds.get(k)))}</li>"
                       for k, v in r.records.items())
        err = f'<div class="err">{html.escape(r.error)}</div>' if r.error else ""
        rows.append(
            f'<tr class="{r.status}"><td>{html.escape(r.name)}</td><td>{link}{err}</td>'
            f'<td class="status">{r.status}{"<br><small>earlier run</small>" if r.earlier else ""}</td>'
            f'<td class="num">{r.seconds:.1f} s</td><td><ul>{recs}</ul></td></tr>'
        )
    n_failed = sum(r.status not in ("ok", "skipped") for r in runs)
    n_skipped = sum(r.status == "skipped" for r in runs)
    skipped_text = f", {n_skipped} skipped (reasons below)" if n_skipped else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Reports: {html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }}
td.num {{ text-align: right; white-space: nowrap; }}
tr.ok td.status {{ color: #1a7f37; font-weight: 600; }}
tr.failed td.status {{ color: #cf222e; font-weight: 600; }}
tr.skipped td.status {{ color: #9a6700; font-weight: 600; }}
.err {{ color: #cf222e; font-family: monospace; font-size: .9em; white-space: pre-wrap; }}
ul {{ margin: 0; padding-left: 1.1rem; }}
.lead {{ color: #555; font-size: .92em; margin-top: .25rem; }}
.caveat {{ background: #fff8c5; padding: .5rem .75rem; border-left: 4px solid #9a6700; }}
</style></head><body>
<h1>Reports: {html.escape(title)}</h1>
<p>Dataset config <code>{html.escape(config_name)}</code>; {len(runs)} notebook(s), {n_failed} failed{skipped_text}.
Generated {dt.datetime.now().strftime("%Y-%m-%d %H:%M")}.</p>
{f'<p class="caveat"><strong>About the data:</strong> {html.escape(caveat)}</p>' if caveat else ""}
<table><thead><tr><th>notebook</th><th>report</th><th>status</th><th>duration</th><th>headline numbers</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
