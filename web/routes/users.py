"""Administrators manage users: create, change role, deactivate, reset password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, col, select

from ..accounts.models import Role, User, UserCreate, UserPublic, UserUpdate
from ..accounts.service import AccountError, create_user, set_password, update_user
from ..deps import Allow, SessionDep, client_ip
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/users", tags=["users"])
routers = [router, api]


def _get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, f"There is no user {user_id}.")
    return user


def _users(session: Session, q: str = "", role: str = "", status: str = "") -> list[User]:
    query = select(User).order_by(col(User.username))
    if q:
        like = f"%{q.lower()}%"
        query = query.where(col(User.username).ilike(like) | col(User.full_name).ilike(like))
    if role in Role.__members__:
        query = query.where(User.role == Role(role))
    if status in ("active", "inactive"):
        query = query.where(User.is_active == (status == "active"))
    return list(session.exec(query).all())


def _validation_messages(exc: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]) or "form": e["msg"] for e in exc.errors()}


@router.get("/users")
def users_page(request: Request, session: SessionDep, admin: Annotated[User, Allow("users.view")],
               q: str = "", role: str = "", status: str = "") -> Response:
    return render(request, "users/list.html", {
        "users": _users(session, q, role, status), "roles": list(Role), "q": q, "role": role, "status": status,
        "errors": {}, "form": {},
    }, block="results")


@router.post("/users")
def users_create(
    request: Request, session: SessionDep, admin: Annotated[User, Allow("users.manage")],
    username: Annotated[str, Form(max_length=200)] = "", full_name: Annotated[str, Form(max_length=500)] = "",
    email: Annotated[str, Form(max_length=500)] = "", role: Annotated[str, Form(max_length=40)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    form = {"username": username, "full_name": full_name, "email": email, "role": role}
    errors: dict[str, str] = {}
    try:
        data = UserCreate(username=username.strip(), full_name=full_name.strip(), email=email.strip(), role=role, password=password)
        user = create_user(session=session, user_create=data, actor=admin, ip=client_ip(request))
    except ValidationError as exc:
        errors = _validation_messages(exc)
    except AccountError as err:
        errors = {err.field or "form": err.message}
    if errors:
        session.rollback()
        return render(request, "users/list.html", {
            "users": _users(session), "roles": list(Role), "q": "", "role": "", "status": "", "errors": errors, "form": form,
        }, status_code=400, block="create_form")
    session.commit()
    return flash(redirect(request, "/users"), f"User {user.username} created as {user.role.label}.", request)


@router.post("/users/{user_id}")
def users_update(
    request: Request, session: SessionDep, user_id: int, admin: Annotated[User, Allow("users.manage")],
    role: Annotated[str | None, Form(max_length=40)] = None, is_active: Annotated[str | None, Form(max_length=10)] = None,
    full_name: Annotated[str | None, Form(max_length=500)] = None, email: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    user = _get_user(session, user_id)
    error = None
    try:
        update = UserUpdate(
            role=role or None, full_name=full_name, email=email,
            is_active=None if is_active is None else is_active in ("true", "1", "on", "yes"),
        )
        update_user(session=session, user=user, user_update=update, actor=admin, ip=client_ip(request))
        session.commit()
    except ValidationError as exc:
        session.rollback()
        error = "; ".join(f"{k}: {v}" for k, v in _validation_messages(exc).items())
    except AccountError as err:
        session.rollback()
        error = err.message
    session.refresh(user)
    return render(request, "users/_user_row_partial.html", {"u": user, "roles": list(Role), "row_error": error},
                  status_code=400 if error else 200, block=None)


@router.post("/users/{user_id}/password")
def users_reset_password(
    request: Request, session: SessionDep, user_id: int, admin: Annotated[User, Allow("users.manage")],
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    user = _get_user(session, user_id)
    try:
        set_password(session=session, user=user, password=password, actor=admin, ip=client_ip(request))
    except AccountError as err:
        session.rollback()
        return render(request, "users/_user_row_partial.html", {"u": user, "roles": list(Role), "row_error": err.message},
                      status_code=400, block=None)
    session.commit()
    return render(request, "users/_user_row_partial.html",
                  {"u": user, "roles": list(Role), "row_note": f"Password of {user.username} reset; their sessions ended."},
                  block=None)


# --- API ---------------------------------------------------------------------------------


@api.get("", response_model=list[UserPublic], summary="List users")
def api_list(session: SessionDep, admin: Annotated[User, Allow("users.view")], q: str = "", role: str = "", status: str = "") -> list[User]:
    return _users(session, q, role, status)


@api.post("", response_model=UserPublic, status_code=201, summary="Create a user")
def api_create(request: Request, session: SessionDep, body: UserCreate, admin: Annotated[User, Allow("users.manage")]) -> User:
    try:
        user = create_user(session=session, user_create=body, actor=admin, ip=client_ip(request))
    except AccountError as err:
        raise HTTPException(409 if err.field == "username" else 400, f"{err.field}: {err.message}") from None
    session.commit()
    return user


@api.get("/{user_id}", response_model=UserPublic, summary="One user")
def api_get(session: SessionDep, user_id: int, admin: Annotated[User, Allow("users.view")]) -> User:
    return _get_user(session, user_id)


@api.patch("/{user_id}", response_model=UserPublic, summary="Change a user's name, e-mail, role or active flag")
def api_update(request: Request, session: SessionDep, user_id: int, body: UserUpdate,
               admin: Annotated[User, Allow("users.manage")]) -> User:
    user = _get_user(session, user_id)
    try:
        update_user(session=session, user=user, user_update=body, actor=admin, ip=client_ip(request))
    except AccountError as err:
        raise HTTPException(400, f"{err.field}: {err.message}") from None
    session.commit()
    return user


class PasswordReset(BaseModel):
    password: str = Field(max_length=256)


@api.post("/{user_id}/password", status_code=204, summary="Reset a user's password (ends their sessions)")
def api_reset_password(request: Request, session: SessionDep, user_id: int, body: PasswordReset,
                       admin: Annotated[User, Allow("users.manage")]) -> Response:
    user = _get_user(session, user_id)
    try:
        set_password(session=session, user=user, password=body.password, actor=admin, ip=client_ip(request))
    except AccountError as err:
        raise HTTPException(400, f"{err.field}: {err.message}") from None
    session.commit()
    return Response(status_code=204)
