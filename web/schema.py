"""Every table Konbit has, gathered for Alembic and the schema tests."""

from sqlmodel import SQLModel

from audiences import models as _audiences  # noqa: F401
from campaign import models as _campaign  # noqa: F401
from content import models as _content  # noqa: F401
from surveys import models as _surveys  # noqa: F401
from surveys import openrosa_models as _openrosa  # noqa: F401
from web.accounts import models as _accounts  # noqa: F401

metadata = SQLModel.metadata

__all__ = ["metadata"]
