"""My account: who I am, and changing my own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..accounts.models import User, UserPublic
from ..accounts.service import AccountError, change_own_password
from ..deps import Allow, SessionDep, client_ip
from ..i18n import gettext
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["account"])
routers = [router, api]


@router.get("/account")
def account(request: Request, user: Annotated[User, Allow("account.manage_own")]) -> Response:
    return render(request, "account.html", {"errors": {}})


@router.post("/account/password")
def change_password(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Allow("account.manage_own")],
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
    confirm_password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    try:
        change_own_password(session=session, user=user, current=current_password, new=new_password,
                            confirm=confirm_password, ip=client_ip(request))
    except AccountError as err:
        session.rollback()
        return render(request, "account.html", {"errors": {err.field: err.message}}, status_code=400, block="password_form")
    session.commit()
    # Every session ended with the change: log in again with the new password.
    return flash(redirect(request, "/login"), gettext("Your password was changed. Log in with the new one."), request)


@api.get("/me", response_model=UserPublic, summary="The user behind the token")
def me(user: Annotated[User, Allow("account.manage_own")]) -> User:
    return user


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


@api.post("/me/password", status_code=204, summary="Change my password (ends all my sessions and tokens)")
def api_change_password(request: Request, session: SessionDep, body: PasswordChange,
                        user: Annotated[User, Allow("account.manage_own")]) -> Response:
    try:
        change_own_password(session=session, user=user, current=body.current_password, new=body.new_password,
                            confirm=body.new_password, ip=client_ip(request))
    except AccountError as err:
        raise HTTPException(400, f"{err.field}: {err.message}") from None
    session.commit()
    return Response(status_code=204)
