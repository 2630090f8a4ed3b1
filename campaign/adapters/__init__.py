"""Channel adapters: one class per provider, all behind :mod:`campaign.adapters.base`.

Adding a channel type is one class, in a module imported below so the registry knows it:

- subclass :class:`~campaign.adapters.base.Adapter` and decorate it with :func:`register`;
- set ``provider`` (the name channels store), ``kind`` (or ``kinds``) and ``label``;
- declare ``setting_fields`` (:class:`~campaign.adapters.base.Setting`: name, type ``str``,
  ``int``, ``float`` or ``dict`` for a JSON object, required, bounds) and ``secret_fields``:
  the channel form, the JSON API and :func:`campaign.service.save_channel` read them from here;
- implement :meth:`~campaign.adapters.base.Adapter.send` (and ``send_batch``,
  ``parse_receipts``, ``parse_inbound`` where the gateway has them).

The first provider registered for a kind is its default; the sandbox comes last.
"""

from campaign.adapters.base import (  # noqa: F401
    REGISTRY, Adapter, AdapterError, Inbound, Outcome, Outgoing, Receipt, Setting, adapter_for, providers, register,
)
from campaign.adapters import (  # noqa: E402, F401
    facebook, http_json, offline, rapidpro, smtp, twilio, webhook,
    sandbox,  # last: never a kind's default
)
