"""Index pages the sandbox mirror generates: PEP 503 HTML, PEP 691 JSON, PEP 658 metadata."""

import json

import pytest

from sandbox import simple_index
from sandbox.simple_index import DistFile

TORCH = DistFile("torch-2.6.0+cu124-cp312-cp312-linux_x86_64.whl", 10, "a" * 64, "b" * 64)
VLLM = DistFile("vllm-0.8.5.post1-cp38-abi3-manylinux1_x86_64.whl", 20, "c" * 64)  # no .metadata


def test_html_project_page_links_files_with_hashes_and_metadata_only_where_present():
    page = simple_index.project_html("torch", [VLLM, TORCH])
    assert '<meta name="pypi:repository-version" content="1.1">' in page
    torch_link = next(ln for ln in page.splitlines() if "torch-" in ln)
    assert 'href="torch-2.6.0%2Bcu124-cp312-cp312-linux_x86_64.whl#sha256=' + "a" * 64 in torch_link
    assert f'data-core-metadata="sha256={"b" * 64}"' in torch_link
    vllm_link = next(ln for ln in page.splitlines() if "vllm-" in ln)
    assert "data-core-metadata" not in vllm_link


def test_json_project_page_follows_pep_691():
    page = json.loads(simple_index.project_json("Torch", [TORCH, VLLM]))
    assert page["meta"] == {"api-version": "1.1"}
    assert page["name"] == "torch"
    assert page["versions"] == ["0.8.5.post1", "2.6.0+cu124"]
    torch, vllm = page["files"]
    assert torch["hashes"] == {"sha256": "a" * 64} and torch["size"] == 10
    assert torch["core-metadata"] == {"sha256": "b" * 64}
    assert vllm["core-metadata"] is False and vllm["dist-info-metadata"] is False


def test_index_root_lists_projects():
    assert json.loads(simple_index.index_json(["vllm", "torch"]))["projects"] == [
        {"name": "torch"},
        {"name": "vllm"},
    ]
    assert '<a href="torch/">torch</a>' in simple_index.index_html("x", ["torch"])


@pytest.mark.parametrize(
    ("accept", "json_wanted"),
    [
        (None, False),
        ("text/html", False),
        ("application/vnd.pypi.simple.v1+json", True),
        # what pip sends
        (
            "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1,"
            " text/html; q=0.01",
            True,
        ),
        ("application/vnd.pypi.simple.v1+json; q=0.1, text/html", False),
    ],
)
def test_content_negotiation(accept, json_wanted):
    assert simple_index.wants_json(accept) is json_wanted


@pytest.mark.parametrize(
    ("name", "normal"), [("Foo_Bar.baz", "foo-bar-baz"), ("torch", "torch"), ("A--b", "a-b")]
)
def test_normalize(name, normal):
    assert simple_index.normalize(name) == normal


def test_version_of():
    assert simple_index.version_of(TORCH.filename) == "2.6.0+cu124"
    assert simple_index.version_of("xformers-0.0.29.post2.tar.gz") == "0.0.29.post2"
    assert simple_index.version_of("README.txt") is None
