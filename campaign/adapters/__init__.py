"""Channel adapters: one class per provider, all behind :mod:`campaign.adapters.base`.

Adding a channel type is one class: subclass :class:`~campaign.adapters.base.Adapter`, set
``provider`` and ``kind``, implement :meth:`send`, decorate it with :func:`register` and import its
module below so the registry knows it.
"""

from campaign.adapters.base import (  # noqa: F401
    REGISTRY, Adapter, AdapterError, Inbound, Outcome, Outgoing, Receipt, adapter_for, register,
)
from campaign.adapters import facebook, http_json, rapidpro, smtp, twilio, webhook  # noqa: E402, F401
