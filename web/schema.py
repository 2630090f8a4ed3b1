"""Every table Konbit has, gathered for Alembic and the schema tests."""

from sqlmodel import SQLModel

from web.accounts import models as _accounts  # noqa: F401

metadata = SQLModel.metadata

__all__ = ["metadata"]
