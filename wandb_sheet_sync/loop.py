"""The schedule loop: one sync at once, then one every N minutes; stops cleanly; keeps a health file.

A failed sync is logged and tried again at the next tick: the loop never dies of a network error. Only a
configuration or credential error in the very first sync ends it (exit 2), since no later tick can fix it.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from . import files
from .errors import Busy, SyncError, loop_goes_on

log = logging.getLogger("wandb_spreadsheet_sync")


def default_health_file() -> Path:
    return Path(tempfile.gettempdir()) / "wandb_spreadsheet_sync.health"


def write_health(path: Path, interval_s: float, ok: bool) -> None:
    """{"started", "last_success", "interval_s"}: a HEALTHCHECK tells a stuck loop from a working one."""
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        data = {}
    data.setdefault("started", time.time())
    data["interval_s"] = interval_s
    if ok:
        data["last_success"] = time.time()
    # a temporary file of its own (files.replace): two loops sharing one health file once renamed each other's
    # fixed "health.tmp" away (FileNotFoundError in the second)
    text = json.dumps(data).encode()
    files.replace(path, lambda fh: fh.write(text))


def healthy(path: Path, now: float | None = None, grace_s: float = 120) -> tuple[bool, str]:
    """Healthy while the last successful sync (or the start) is younger than two intervals."""
    now = now or time.time()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False, f"no health file at {path}: the loop has not started"
    last = data.get("last_success") or data.get("started", 0)
    limit = 2 * data.get("interval_s", 1800) + grace_s
    age = now - last
    if age > limit:
        return False, f"last successful sync {age:.0f} s ago (limit {limit:.0f} s)"
    return True, f"last successful sync {age:.0f} s ago"


def run(do_sync: Callable[[], object], minutes: int, stop: threading.Event, health: Path | None = None) -> int:
    import schedule  # the loop's own dependency; --once never needs it

    health = health or default_health_file()
    interval_s = minutes * 60
    write_health(health, interval_s, ok=False)
    first = [True]

    def tick() -> int | None:
        try:
            do_sync()
        except Busy as exc:  # issue 23: another sync holds the lease; this tick skips its write
            log.warning("skipped: %s", exc.message)
        except SyncError as exc:
            if not loop_goes_on(exc, first[0]):
                if stop.is_set():
                    log.warning("interrupted: %s", exc)  # says what the stopped sync wrote and did not
                    return 0
                log.error("%s", exc)
                return exc.exit_code
            log.error("sync failed, will try again in %d min: %s", minutes, exc)
        except Exception:  # a bug must not kill a detached container's loop either
            log.exception("sync failed unexpectedly, will try again in %d min", minutes)
        else:
            write_health(health, interval_s, ok=True)
        finally:
            first[0] = False
        return None

    code = tick()
    if code is not None:
        return code
    scheduler = schedule.Scheduler()
    scheduler.every(minutes).minutes.do(tick)
    while not stop.is_set():
        scheduler.run_pending()
        idle = scheduler.idle_seconds
        stop.wait(min(max(idle if idle is not None else 1.0, 0.05), 1.0))
    return 0
