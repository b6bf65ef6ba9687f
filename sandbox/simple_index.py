"""Package index pages for the sandbox mirror, generated from the files in a directory:
PEP 503 HTML and PEP 691 JSON (api-version 1.1), with PEP 658 core-metadata when a
`<file>.metadata` sits next to a wheel — and none when it does not, like real indexes.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
Pure functions: no I/O here (sandbox/mirror.py reads the directory).
"""

import html
import json
import re
from dataclasses import dataclass
from urllib.parse import quote

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
API_VERSION = "1.1"
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass(frozen=True)
class DistFile:
    """One distribution file of a project page. Example:
    DistFile("torch-2.6.0+cu124-cp312-cp312-linux_x86_64.whl", 1234, "ab12...", "cd34...")"""

    filename: str
    size: int
    sha256: str
    metadata_sha256: str | None = None  # sha256 of "<filename>.metadata" when present


def normalize(name: str) -> str:
    """PEP 503 name normalisation: `normalize("Foo_Bar.baz")` -> "foo-bar-baz"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_dist(filename: str) -> bool:
    return filename.endswith(DIST_SUFFIXES)


def version_of(filename: str) -> str | None:
    """`version_of("vllm-0.8.5.post1-cp38-abi3-manylinux1_x86_64.whl")` -> "0.8.5.post1"."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return parts[1] if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            return stem.rsplit("-", 1)[1] if "-" in stem else None
    return None


def wants_json(accept: str | None) -> bool:
    """Content negotiation (PEP 691): JSON only when the client ranks it above any HTML."""
    best: dict[str, float] = {}
    for item in (accept or "").split(","):
        fields = [f.strip() for f in item.split(";")]
        media, q = fields[0].lower(), 1.0
        for param in fields[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        best[media] = max(q, best.get(media, 0.0))
    json_q = best.get(JSON_TYPE, 0.0)
    html_q = max(best.get(HTML_TYPE, 0.0), best.get("text/html", 0.0), best.get("*/*", 0.0))
    return json_q > 0 and json_q >= html_q


def _page(title: str, links: list[str]) -> str:
    body = "\n".join(links)
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def project_html(name: str, files: list[DistFile]) -> str:
    links = []
    for f in sorted(files, key=lambda f: f.filename):
        attrs = f'href="{quote(f.filename)}#sha256={f.sha256}"'
        if f.metadata_sha256:
            meta = f"sha256={f.metadata_sha256}"
            attrs += f' data-dist-info-metadata="{meta}" data-core-metadata="{meta}"'
        links.append(f"<a {attrs}>{html.escape(f.filename)}</a><br/>")
    return _page(f"Links for {name}", links)


def project_json(name: str, files: list[DistFile]) -> str:
    entries = []
    for f in sorted(files, key=lambda f: f.filename):
        meta: dict | bool = {"sha256": f.metadata_sha256} if f.metadata_sha256 else False
        entries.append(
            {
                "filename": f.filename,
                "url": quote(f.filename),
                "hashes": {"sha256": f.sha256},
                "size": f.size,
                "core-metadata": meta,
                "dist-info-metadata": meta,
                "yanked": False,
            }
        )
    versions = sorted({v for f in files if (v := version_of(f.filename))})
    page = {
        "meta": {"api-version": API_VERSION},
        "name": normalize(name),
        "files": entries,
        "versions": versions,
    }
    return json.dumps(page, indent=1)


def index_html(title: str, projects: list[str], other_files: list[str] = ()) -> str:
    """An index root (projects as `name/` links); other files are listed too, for browsing."""
    links = [f'<a href="{quote(p)}/">{html.escape(p)}</a><br/>' for p in sorted(projects)]
    links += [f'<a href="{quote(f)}">{html.escape(f)}</a><br/>' for f in sorted(other_files)]
    return _page(title, links)


def index_json(projects: list[str]) -> str:
    page = {
        "meta": {"api-version": API_VERSION},
        "projects": [{"name": p} for p in sorted(projects)],
    }
    return json.dumps(page, indent=1)
