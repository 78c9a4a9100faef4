"""`orderflow topology`: declared, observed and authorised side by side, and every
difference between them (services/topology.py says where each graph comes from).

One table per principal, a row per resource and operation, ✓ or – in each graph's
column (? where it cannot be seen now: a group not running, a store unreadable, the
CLI's short-lived clients, a broker without an authorizer); then the differences. Exit
1 when there is any, 0 when none, so a script (or CI after `acl apply && up`) can trust
it; a broker that does not answer is one line and exit 1, as elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import emit_json, table

if TYPE_CHECKING:
    from adapters.kafka.acl import Grant
    from services.topology import Difference, Survey

Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
Wide = Annotated[bool, typer.Option("--wide", help="Names with the topic prefix.")]
MARKS = {True: "✓", False: "–", None: "?"}
LEGEND = "✓ yes  – no  ? unknown now (group not running, store unreadable, the CLI)"


def topology(ctx: typer.Context, wide: Wide = False, json: Json = False) -> None:
    """What the code declares, what the broker and the stores show the services doing,
    and what the broker's ACLs allow, per principal; then every difference. Exit 1 if
    there is any. Names are shown without the topic prefix (--wide: with it)."""
    orderflow = app_of(ctx)
    survey = orderflow.topology().survey()
    if json:
        emit_json(_document(survey))
    else:
        _show(survey, "" if wide else orderflow.settings.topic_prefix, wide)
    if survey.differences:
        raise typer.Exit(1)


def _show(survey: Survey, prefix: str, wide: bool) -> None:
    typer.echo(LEGEND)
    idle = []
    for who in survey.declared:
        rows = _rows(survey, who, prefix)
        if not rows:
            idle.append(who)
            continue
        typer.echo()
        table(_title(survey, who, prefix), ["operation", "resource", "declared", "observed",
                                            "authorised"], rows, wide=wide)
    if idle:
        typer.echo(f"\nnothing declared, seen or authorised: {', '.join(idle)}")
    typer.echo()
    for line in _differences(survey.differences, prefix):
        typer.echo(line)


def _rows(survey: Survey, who: str, prefix: str) -> list[tuple[str, str, str, str, str]]:
    """Every grant some graph has for `who`: topics first, then groups."""
    declared, held = survey.declared[who], survey.held(who)
    return [(g.operation, _resource(g, prefix), MARKS[g in declared],
             MARKS[survey.observed.saw(who, g)], MARKS[None if held is None else g in held])
            for g in sorted(declared | survey.observed.grants(who) | (held or frozenset()),
                            key=lambda g: (g.resource != "topic", g.name, g.operation))]


def _title(survey: Survey, who: str, prefix: str) -> str:
    group = survey.observed.groups.get(who)
    if group is None:
        return f"{who}: short-lived clients, not observed"
    store = "" if survey.observed.writes.get(who) is not None else ", store unreadable"
    return f"{who}: group {group.group.removeprefix(prefix)} {group.state}{store}"


def _resource(grant: Grant, prefix: str) -> str:
    star = "*" if grant.pattern == "prefixed" else ""
    return f"{grant.resource} {grant.name.removeprefix(prefix)}{star}"


def _differences(found: list[Difference], prefix: str) -> list[str]:
    """Two lines each (what, then why), so they fit 80 columns."""
    if not found:
        return ["no drift: declared, observed and authorised agree"]
    lines = [f"{len(found)} difference{'s' if len(found) > 1 else ''}:"]
    for difference in found:
        what = "" if difference.grant is None else \
            f" {difference.grant.operation} {_resource(difference.grant, prefix)}"
        lines += [f"- {difference.kind}: {difference.principal or 'broker'}{what}",
                  f"  {difference.detail}"]
    return lines


def _document(survey: Survey) -> dict[str, Any]:
    """The graphs as scripts want them: unknown is null, never empty."""
    from adapters.kafka.topology import RUNNING
    observed = survey.observed
    authorised = None if survey.authorised is None else {
        who: [_grant(g) for g in sorted(survey.held(who) or ())] for who in survey.declared}
    return {
        "declared": {who: [_grant(g) for g in sorted(grants)]
                     for who, grants in survey.declared.items()},
        "observed": {who: {"group": group.group, "state": group.state,
                           "reads": sorted(group.topics) if group.state == RUNNING else None,
                           "writes": _sorted(observed.writes.get(who))}
                     for who, group in observed.groups.items()},
        "authorised": authorised,
        "differences": [{"kind": d.kind, "principal": d.principal or None,
                         **(_grant(d.grant) if d.grant else dict.fromkeys(_FIELDS)),
                         "detail": d.detail} for d in survey.differences]}


_FIELDS = ("resource", "name", "pattern", "operation")


def _grant(grant: Grant) -> dict[str, str]:
    return {field: getattr(grant, field) for field in _FIELDS}


def _sorted(topics: frozenset[str] | None) -> list[str] | None:
    return None if topics is None else sorted(topics)
