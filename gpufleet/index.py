"""A small client of a Python package index: what pip reads, and nothing more.

`project_files` lists a project's files from the simple API (PEP 691 JSON, or PEP 503 HTML when
the server only speaks that); `wheel_metadata` reads a wheel's METADATA either from its PEP 658
`.metadata` file or, when the index has none, straight out of the wheel with HTTP range requests
(the zip central directory at the end, then that one member), never downloading the whole wheel.

Example:
    >>> files = project_files("http://127.0.0.1:8080/simple", "vllm")  # doctest: +SKIP
    >>> wheel_metadata(files[-1])["Requires-Python"]  # doctest: +SKIP
    '>=3.9'
"""

from __future__ import annotations

import email
import hashlib
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urldefrag, urljoin

import requests
from packaging.utils import canonicalize_name

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
# Prefer JSON, accept either HTML flavour: an old mirror that ignores Accept answers text/html.
ACCEPT = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
TIMEOUT = 30.0  # seconds, per request: a stuck mirror must not hang a refresh forever
TAIL_BYTES = 64 * 1024  # one tail fetch usually holds the whole central directory and METADATA

MetadataSource = Literal["pep658", "wheel"]


class IndexFetchError(RuntimeError):
    """A request to the index failed or answered something unusable; the message names the URL."""


@dataclass(frozen=True)
class IndexFile:
    """One file on a project page, as the simple API describes it."""

    filename: str
    url: str  # absolute, without the #hash fragment
    hashes: Mapping[str, str] = field(default_factory=dict, hash=False)
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    has_metadata: bool = False  # PEP 658/714: the index serves url + ".metadata"
    metadata_hashes: Mapping[str, str] = field(default_factory=dict, hash=False)


def new_session() -> requests.Session:
    """A session for index requests (one per thread: requests does not promise thread safety)."""
    session = requests.Session()
    session.headers["User-Agent"] = "gpufleet-matrix-refresh"
    return session


def _get(session: requests.Session | None, url: str, **kwargs) -> requests.Response:
    session = session or new_session()
    try:
        return session.get(url, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)
    except requests.RequestException as exc:
        raise IndexFetchError(f"{url}: {exc}") from exc


def project_files(
    index_url: str, name: str, session: requests.Session | None = None
) -> list[IndexFile]:
    """List every file of project `name` on the index at `index_url` (the ".../simple" URL).

    Example:
        >>> [f.filename for f in project_files(url, "vllm")][:1]  # doctest: +SKIP
        ['vllm-0.6.0-cp38-abi3-manylinux1_x86_64.whl']
    """
    page = f"{index_url.rstrip('/')}/{canonicalize_name(name)}/"
    resp = _get(session, page, headers={"Accept": ACCEPT})
    if resp.status_code != 200:
        raise IndexFetchError(f"{page}: HTTP {resp.status_code}")
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype == SIMPLE_JSON:
        return _parse_json(resp.json(), resp.url)
    if ctype in ("text/html", "application/vnd.pypi.simple.v1+html"):
        return _parse_html(resp.text, resp.url)
    raise IndexFetchError(f"{page}: unexpected Content-Type {ctype!r}")


def _metadata_attr(value: object) -> tuple[bool, dict[str, str]]:
    """PEP 691 `core-metadata`: false/absent, true, or a dict of hashes."""
    if isinstance(value, dict):
        return True, dict(value)
    return bool(value), {}


def _parse_json(data: dict, page_url: str) -> list[IndexFile]:
    files = []
    for item in data.get("files", []):
        # PEP 714 renamed dist-info-metadata to core-metadata; old servers send only the former.
        meta = item.get("core-metadata", item.get("dist-info-metadata"))
        has_meta, meta_hashes = _metadata_attr(meta)
        yanked = item.get("yanked", False)
        files.append(
            IndexFile(
                filename=item["filename"],
                url=urldefrag(urljoin(page_url, item["url"])).url,
                hashes=dict(item.get("hashes", {})),
                requires_python=item.get("requires-python"),
                yanked=bool(yanked),
                yanked_reason=yanked if isinstance(yanked, str) and yanked else None,
                has_metadata=has_meta,
                metadata_hashes=meta_hashes,
            )
        )
    return files


def _hash_fragment(value: str | None) -> dict[str, str]:
    """`sha256=abc` (an href fragment or a data-core-metadata value) → {"sha256": "abc"}."""
    if value and "=" in value:
        algo, _, digest = value.partition("=")
        return {algo: digest}
    return {}


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.anchors.append((self._open, self._text.strip()))
            self._open = None


def _parse_html(text: str, page_url: str) -> list[IndexFile]:
    parser = _AnchorParser()
    parser.feed(text)
    files = []
    for attrs, label in parser.anchors:
        if not attrs.get("href"):
            continue
        url, fragment = urldefrag(urljoin(page_url, attrs["href"]))
        meta = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        yanked = "data-yanked" in attrs  # present, even empty, means yanked (PEP 592)
        files.append(
            IndexFile(
                filename=label or url.rsplit("/", 1)[-1],
                url=url,
                hashes=_hash_fragment(fragment),
                requires_python=attrs.get("data-requires-python"),
                yanked=yanked,
                yanked_reason=attrs.get("data-yanked") or None,
                has_metadata=meta is not None and meta != "false",
                metadata_hashes=_hash_fragment(meta),
            )
        )
    return files


def _verify(data: bytes, hashes: Mapping[str, str], url: str) -> None:
    for algo, expected in hashes.items():
        if algo in hashlib.algorithms_guaranteed:
            got = hashlib.new(algo, data).hexdigest()
            if got != expected.lower():
                raise IndexFetchError(f"{url}: {algo} mismatch: expected {expected}, got {got}")
            return  # one strong hash is enough, as pip does


def _pep658(file: IndexFile, session: requests.Session | None, probe: bool) -> bytes | None:
    url = file.url + ".metadata"
    resp = _get(session, url)
    if probe and resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise IndexFetchError(f"{url}: HTTP {resp.status_code}")
    _verify(resp.content, file.metadata_hashes, url)
    return resp.content


class _RangeWheel:
    """Random access to a remote zip through `Range` requests, the way pip's lazy wheel works.

    The tail fetch is kept: wheel builders put .dist-info last, so the central directory and
    METADATA itself are usually already in it and the whole read costs one request.
    """

    def __init__(self, url: str, session: requests.Session, tail_bytes: int) -> None:
        self.url, self.session = url, session
        self.tail, self.size = self._fetch(f"bytes=-{tail_bytes}")
        self.tail_start = self.size - len(self.tail)

    def _fetch(self, byte_range: str) -> tuple[bytes, int]:
        """GET one range; return (body, total size). Anything but 206 is refused."""
        resp = _get(self.session, self.url, headers={"Range": byte_range}, stream=True)
        with resp:
            if resp.status_code != 206:
                raise IndexFetchError(
                    f"{self.url}: asked for {byte_range}, got HTTP {resp.status_code} instead of"
                    " 206 Partial Content; refusing to download the whole wheel"
                )
            total = resp.headers.get("Content-Range", "").rpartition("/")[2]
            if not total.isdigit():
                raise IndexFetchError(f"{self.url}: 206 without a usable Content-Range")
            return resp.content, int(total)

    def read(self, start: int, length: int) -> bytes:
        if start >= self.tail_start:  # already in hand
            return self.tail[start - self.tail_start : start - self.tail_start + length]
        data, _ = self._fetch(f"bytes={start}-{start + length - 1}")
        if len(data) != length:
            raise IndexFetchError(f"{self.url}: short range read at {start} ({len(data)} bytes)")
        return data

    def _central_directory(self) -> bytes:
        eocd = self.tail.rfind(b"PK\x05\x06")
        if eocd < 0:
            raise IndexFetchError(f"{self.url}: no zip end-of-central-directory in the last bytes")
        cd_size, cd_offset = struct.unpack_from("<2L", self.tail, eocd + 12)
        locator = eocd - 20
        if locator >= 0 and self.tail[locator : locator + 4] == b"PK\x06\x07":
            # zip64: the real size and offset live in the zip64 end record the locator points to
            (z64_offset,) = struct.unpack_from("<Q", self.tail, locator + 8)
            record = self.read(z64_offset, 56)
            if record[:4] != b"PK\x06\x06":
                raise IndexFetchError(f"{self.url}: broken zip64 end-of-central-directory")
            cd_size, cd_offset = struct.unpack_from("<2Q", record, 40)
        return self.read(cd_offset, cd_size)

    def _find_metadata(self, cd: bytes) -> tuple[int, int, int, int]:
        """Return (method, crc, compressed size, local header offset) of *.dist-info/METADATA."""
        pos = 0
        while cd[pos : pos + 4] == b"PK\x01\x02":
            fields = struct.unpack_from("<4s6H3L5H2L", cd, pos)
            method, (crc, csize, usize) = fields[4], fields[7:10]
            name_len, extra_len, comment_len = fields[10:13]
            offset = fields[16]
            name = cd[pos + 46 : pos + 46 + name_len].decode("utf-8", "replace")
            extra = cd[pos + 46 + name_len : pos + 46 + name_len + extra_len]
            parts = name.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                csize, offset = _zip64_extra(extra, usize, csize, offset)
                return method, crc, csize, offset
            pos += 46 + name_len + extra_len + comment_len
        raise IndexFetchError(f"{self.url}: no *.dist-info/METADATA in the central directory")

    def metadata(self) -> bytes:
        method, crc, csize, offset = self._find_metadata(self._central_directory())
        header = self.read(offset, 30)
        if header[:4] != b"PK\x03\x04":
            raise IndexFetchError(f"{self.url}: no zip local header at offset {offset}")
        name_len, extra_len = struct.unpack_from("<2H", header, 26)
        data = self.read(offset + 30 + name_len + extra_len, csize)
        if method == 8:
            data = zlib.decompressobj(-15).decompress(data)  # zip deflate is raw: no zlib header
        elif method != 0:
            raise IndexFetchError(f"{self.url}: METADATA uses zip method {method}")
        if zlib.crc32(data) != crc:
            raise IndexFetchError(f"{self.url}: METADATA fails its zip CRC")
        return data


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int]:
    """Apply the zip64 extra field (id 1): it holds, in order, each field that overflowed."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, pos)
        if tag == 1:
            values = iter(struct.unpack_from(f"<{size // 8}Q", extra, pos + 4))
            if usize == 0xFFFFFFFF:
                next(values)
            if csize == 0xFFFFFFFF:
                csize = next(values)
            if offset == 0xFFFFFFFF:
                offset = next(values)
        pos += 4 + size
    return csize, offset


def read_metadata(
    file: IndexFile,
    session: requests.Session | None = None,
    probe: bool = False,
    tail_bytes: int = TAIL_BYTES,
) -> tuple[Message, MetadataSource]:
    """Read a wheel's METADATA and say which path read it ("pep658" or "wheel").

    With `probe`, try `url + ".metadata"` even when the index does not advertise it: some
    mirrors drop the PEP 658 attributes from their pages but still serve the files.

    Example:
        >>> msg, source = read_metadata(file)  # doctest: +SKIP
        >>> msg.get_all("Requires-Dist")[:1], source  # doctest: +SKIP
        (['torch==2.6.0'], 'wheel')
    """
    if file.has_metadata or probe:
        raw = _pep658(file, session, probe=probe and not file.has_metadata)
        if raw is not None:
            return email.message_from_bytes(raw), "pep658"
    raw = _RangeWheel(file.url, session or new_session(), tail_bytes).metadata()
    return email.message_from_bytes(raw), "wheel"


def wheel_metadata(file: IndexFile, session: requests.Session | None = None) -> Message:
    """A wheel's METADATA as an email Message (PEP 658 file if any, else HTTP range reads).

    Example:
        >>> wheel_metadata(file).get_all("Requires-Dist")[:1]  # doctest: +SKIP
        ['torch==2.6.0']
    """
    return read_metadata(file, session)[0]
