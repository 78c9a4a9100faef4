"""The wired application, built once per CLI invocation from the environment.

`services.bootstrap` is imported on the first `app_of` call, not when the command
modules load: `orderflow --help` and usage errors never pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from services.bootstrap import Orderflow


def app_of(ctx: typer.Context) -> Orderflow:
    from services.bootstrap import Orderflow, bootstrap

    root = ctx.find_root()
    if root.obj is None:
        root.obj = bootstrap()
    assert isinstance(root.obj, Orderflow)
    return root.obj
