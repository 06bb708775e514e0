"""`pkictl request approve|reject`: an operator decides a company's certificate request (`manual` policy),
e.g. the request of a company's only administrator, who may not decide their own (issue 13 finding 4)."""

from __future__ import annotations

import click

from cli.context import CLIContext, pass_ctx
from enrollment.requests.approval import decide_request


@click.group("request")
def request_group() -> None:
    """Decide certificate requests waiting for approval."""


@request_group.command("approve")
@click.argument("request_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--company", "company_eic", required=True, help="EIC code of the requester's company.")
@pass_ctx
def request_approve(ctx: CLIContext, request_id: int, company_eic: str) -> None:
    """Approve a pending request (a CSR is issued at once)."""
    view = decide_request(ctx.runtime, ctx.actor, request_id=request_id, approve=True, company_eic=company_eic)
    click.echo(f"request #{view.id} of {view.user}: {view.status}")


@request_group.command("reject")
@click.argument("request_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--company", "company_eic", required=True, help="EIC code of the requester's company.")
@click.option("--comment", required=True, help="Why: the requester reads it.")
@pass_ctx
def request_reject(ctx: CLIContext, request_id: int, company_eic: str, comment: str) -> None:
    """Reject a pending request with a comment."""
    view = decide_request(ctx.runtime, ctx.actor, request_id=request_id, approve=False, comment=comment,
                          company_eic=company_eic)
    click.echo(f"request #{view.id} of {view.user}: {view.status}")


COMMANDS = [request_group]
