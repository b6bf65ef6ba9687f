"""gpufleet.facts.host: one script for many facts gives what each fact gives alone.

Runs the batch script and each fact's own command with the local `sh` (the same shell line
pyinfra sends over SSH), and compares the parsed values.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pyinfra.api import FactBase
from pyinfra.facts.files import Directory, File, Sha1File
from pyinfra.facts.server import KernelVersion

from gpufleet.facts.conda import CondaEnvs
from gpufleet.facts.host import Batch, _text, parse, query


class _Fails(FactBase):
    def command(self) -> str:
        return "echo partial; exit 3"


class _NeedsMissingBinary(FactBase):
    default = list

    def command(self) -> str:
        return "gpufleet-no-such-binary --list"

    def requires_command(self) -> str:
        return "gpufleet-no-such-binary"


def _sh(script: str) -> list[str]:
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()


def test_batch_values_equal_each_fact_alone(tmp_path: Path) -> None:
    target = tmp_path / "unit.service"
    target.write_text("[Unit]\n")
    # Sha1File reads the file between the batch's stat and the File fact's own: with relatime
    # that read moves atime (a first read after a write). An atime ahead of mtime/ctime stays.
    stat = target.stat()
    os.utime(target, (stat.st_mtime + 3600, stat.st_mtime))
    (tmp_path / "envs" / "env-a").mkdir(parents=True)
    queries = (
        query(KernelVersion),
        query(File, path=str(target)),
        query(Directory, path=str(tmp_path)),
        query(Sha1File, path=str(target)),
        query(File, path=str(tmp_path / "absent")),
        query(CondaEnvs, envs_dir=str(tmp_path / "envs")),
    )
    values = parse(queries, Batch().process(_sh(Batch().command(queries))))
    for item in queries:
        fact = item.fact()
        lines = _sh(_text(fact.command(**item.arguments())))
        alone = fact.process(lines) if lines else fact.default()
        assert values[item] == alone, item
    assert values[query(CondaEnvs, envs_dir=str(tmp_path / "envs"))] == ["env-a"]
    assert values[query(File, path=str(tmp_path / "absent"))] is None


def test_a_failed_command_is_left_to_pyinfra_and_a_missing_binary_gives_the_default() -> None:
    queries = (query(_Fails), query(_NeedsMissingBinary), query(KernelVersion))
    values = parse(queries, Batch().process(_sh(Batch().command(queries))))
    assert query(_Fails) not in values, "pyinfra reports a failing fact, as it always did"
    assert values[query(_NeedsMissingBinary)] == []
    assert values[query(KernelVersion)]


def test_query_keys_ignore_argument_order_and_list_types() -> None:
    a = query(Directory, path="/x", services=["a.service"])
    b = query(Directory, services=("a.service",), path="/x")
    assert a == b and hash(a) == hash(b)
    assert a.arguments() == {"path": "/x", "services": ["a.service"]}
