"""The container tests reuse the end-to-end world: both fakes, a key, a spreadsheet."""

from tests.e2e.conftest import e2e  # noqa: F401
