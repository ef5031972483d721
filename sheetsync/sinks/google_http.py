"""The one place that sends HTTP to Google: endpoint redirection, timeouts and bounded retries."""

from __future__ import annotations

from google.auth.transport.requests import AuthorizedSession

GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")


class GoogleSession(AuthorizedSession):
    """An AuthorizedSession that can send every Sheets and Drive call to another base URL
    (GOOGLE_API_ENDPOINT: an emulator, a proxy, or the test world's fake)."""

    def __init__(self, credentials, endpoint: str | None = None, timeout: float = 60.0):
        super().__init__(credentials)
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.default_timeout = timeout

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
