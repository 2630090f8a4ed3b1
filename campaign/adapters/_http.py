"""What the HTTP adapters share: one pooled client per adapter, and reading a gateway's answer.

An answer is classified the same way by every HTTP adapter:

- a timeout or a connection that fails: retryable (the message may or may not have gone out: the
  delivery uid is the idempotency key where the gateway takes one);
- 2xx: accepted;
- 408, 425, 429 and 5xx: retryable (the gateway is busy or down);
- any other 4xx: a permanent refusal (invalid number, bad request, wrong credentials).
"""

from __future__ import annotations

from typing import Any

import httpx

from campaign.adapters.base import Adapter, Outcome

__all__ = ["HttpAdapter", "RETRYABLE_STATUS", "json_or_empty"]

RETRYABLE_STATUS = frozenset({408, 425, 429})
_MAX_ERROR = 300


def json_or_empty(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


class HttpAdapter(Adapter):
    """An adapter that speaks HTTP: ``send_batch`` reuses one connection pool; ``close`` ends it."""

    _client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                                        headers={"User-Agent": "Konbit/0.1"})
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def post(self, url: str, **kwargs: Any) -> httpx.Response | Outcome:
        """POST, or the retryable :class:`Outcome` of a timeout or an unreachable gateway."""
        try:
            return self.client.post(url, **kwargs)
        except httpx.TimeoutException:
            return Outcome(ok=False, error=f"the gateway did not answer within {self.timeout:g} s", retryable=True)
        except httpx.HTTPError as err:
            return Outcome(ok=False, error=f"could not reach the gateway ({type(err).__name__})", retryable=True)

    @staticmethod
    def refusal(response: httpx.Response, detail: str = "", *, retryable: bool | None = None) -> Outcome:
        """The :class:`Outcome` of a non-2xx answer; ``detail`` is the gateway's own words."""
        status = response.status_code
        if retryable is None:
            retryable = status in RETRYABLE_STATUS or status >= 500
        words = f"HTTP {status}" + (f": {detail}" if detail else "")
        return Outcome(ok=False, error=words[:_MAX_ERROR], retryable=retryable)
