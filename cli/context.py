"""The wired application, built once per CLI invocation from the environment."""

from __future__ import annotations

import typer

from services.bootstrap import Orderflow, bootstrap


def app_of(ctx: typer.Context) -> Orderflow:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = bootstrap()
    assert isinstance(root.obj, Orderflow)
    return root.obj
