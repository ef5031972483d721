"""The one place that sends HTTP to Google: endpoint redirection, timeouts and bounded retries."""

from __future__ import annotations

import datetime as dt

from google.auth.transport.requests import AuthorizedSession

GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")


class GoogleSession(AuthorizedSession):
    """An AuthorizedSession that can send every Sheets and Drive call to another base URL
    (GOOGLE_API_ENDPOINT: an emulator, a proxy, or the test world's fake)."""

    def __init__(self, credentials, endpoint: str | None = None, timeout: float = 60.0):
        super().__init__(credentials)
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.default_timeout = timeout
        if self.endpoint:
            _no_regional_boundary_lookup(credentials)

    def rewrite(self, url: str) -> str:
        if self.endpoint:
            for host in GOOGLE_HOSTS:
                if url.startswith(host):
                    return self.endpoint + url[len(host):]
        return url

    def request(self, method, url, data=None, headers=None, max_allowed_time=None, timeout=None, **kwargs):
        return super().request(method, self.rewrite(url), data=data, headers=headers,
                               max_allowed_time=max_allowed_time,
                               timeout=timeout if timeout is not None else self.default_timeout, **kwargs)


def _no_regional_boundary_lookup(credentials) -> None:
    """google-auth >= 2.45 looks up a 'regional access boundary' at iamcredentials.googleapis.com in a
    background thread after each token refresh. With the endpoint redirected (an emulator, a proxy, a
    closed network) that call must not leave the machine, so the boundary is set to Google's no-op value."""
    setter = getattr(credentials, "_set_regional_access_boundary", None)
    if setter is not None:
        far = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=3650)
        setter({"encodedLocations": "0x0", "expiry": far})
