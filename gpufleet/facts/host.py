"""Many facts in one round trip: the host's state for a whole deploy, gathered once.

pyinfra runs one SSH command per fact. A no-op deploy of gpufleet reads ~40 facts per host
(driver, toolkit, conda, env stamps, every managed file's stat and sha1, ...), so its cost was
~40 round trips, each paid again by every operation that reads the same fact. ``prefetch()``
runs the commands of many facts as one shell script (each in its own subshell, between markers)
and keeps every answer in ``host.data``; ``get()`` returns a kept answer, else asks pyinfra.
Each answer is the fact's own ``process()`` of its own command's output, so it is exactly
what ``host.get_fact`` would return; a fact whose command failed is not kept (``get()`` then
asks pyinfra, which reports the error as it always did).

Facts are read while pyinfra prepares operations, before any of them runs, so an answer kept
for the rest of that run is the one pyinfra would have read anyway.

    >>> from pyinfra.facts.server import KernelVersion
    >>> script = Batch().command((query(KernelVersion),))
    >>> script.startswith("echo '@@gpufleet-batch 0'; ( uname -r )")
    True
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.api.command import StringCommand
from typing_extensions import override

_MARKER = "@@gpufleet-batch"
_MISSING_COMMAND = "##GPUFLEET_NOCMD##"
_KEPT = "gpufleet_facts"  # host.data key of the kept answers


@dataclass(frozen=True)
class Query:
    """One fact and its arguments (lists as tuples, so a query is hashable)."""

    fact: type[FactBase]
    kwargs: tuple[tuple[str, Hashable], ...] = ()

    def arguments(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.kwargs}


def query(fact: type[FactBase], **kwargs: Any) -> Query:
    """``query(File, path="/etc/x")``: the key ``get(File, path="/etc/x")`` finds."""
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()))
    return Query(fact, frozen)


def _text(command: Any) -> str:
    return command.get_raw_value() if isinstance(command, StringCommand) else str(command)


class Batch(FactBase):
    """
    Returns the raw output of several facts' commands run as one script, per query index:
    ``(exit status, stdout lines)``; ``parse()`` turns it into each fact's value.

    .. code:: python

        {0: (0, ["6.1.0-18-amd64"]), 1: (0, ["/etc/os-release", "..."])}
    """

    default = dict

    @override
    def command(self, queries: tuple[Query, ...]) -> str:
        parts = []
        for index, item in enumerate(queries):
            fact, kwargs = item.fact(), item.arguments()
            command = _text(fact.command(**kwargs))
            required = fact.requires_command(**kwargs)
            if required:
                command = (
                    f"if command -v {_text(required)} >/dev/null 2>&1; then ( {command} ); "
                    f"else echo '{_MISSING_COMMAND}'; fi"
                )
            # A subshell each: an `exit` or `set -e` in one fact's command ends only its part.
            parts.append(f"echo '{_MARKER} {index}'; ( {command} ); echo '{_MARKER} rc' $?")
        return "\n".join(parts) + "\ntrue"

    @override
    def process(self, output):
        sections: dict[int, tuple[int, list[str]]] = {}
        index, lines = None, []
        for line in output:
            if line.startswith(_MARKER):
                word = line[len(_MARKER) :].strip()
                if word.startswith("rc") and index is not None:
                    sections[index] = (int(word.split()[-1]), lines)
                    index = None
                elif word.isdigit():
                    index, lines = int(word), []
            elif index is not None:
                lines.append(line)
        return sections


def parse(queries: tuple[Query, ...], sections: dict) -> dict[Query, Any]:
    """Each query's fact value from its section, as pyinfra computes it; a query whose command
    failed (or has no section) is left out."""
    values = {}
    for index, item in enumerate(queries):
        status, lines = sections.get(index, (1, []))
        if status != 0:
            continue
        fact = item.fact()
        fact.command(**item.arguments())  # some facts keep their arguments for process()
        if lines == [_MISSING_COMMAND] or not lines:
            values[item] = fact.default()
        else:
            values[item] = fact.process(lines)
    return values


def prefetch(queries: Iterable[Query]) -> None:
    """Gather every query not kept yet in one round trip, and keep the answers for ``get()``."""
    kept = host.data.get(_KEPT) or {}
    wanted = tuple(dict.fromkeys(q for q in queries if q not in kept))
    if wanted:
        kept = {**kept, **parse(wanted, host.get_fact(Batch, queries=wanted))}
        setattr(host.data, _KEPT, kept)


def get(fact: type[FactBase], **kwargs: Any) -> Any:
    """The fact's value: kept by ``prefetch()``, else read now with ``host.get_fact``."""
    kept = host.data.get(_KEPT) or {}
    key = query(fact, **kwargs)
    if key in kept:
        return kept[key]
    return host.get_fact(fact, **kwargs)
