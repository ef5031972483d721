"""Flags, logging, exit codes, and the real clients: the only place that prints for the user or exits.

Exit codes: 0 ok, 1 a sync failed (--once), 2 usage, configuration or credentials, 130 interrupted: a stop (SIGTERM,
as `docker stop` sends, or Ctrl-C) that cut a sync short never exits 0, so a job runner knows the sync may not have
happened; Ctrl-C always exits 130; SIGTERM that finds the loop or the service between syncs stopped nothing: 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from . import __version__

log = logging.getLogger("wandb_spreadsheet_sync")
CMD = "wandb-spreadsheet-sync"
# A user who installed with pipx has no README.md beside them, and the project has no public address yet
# (pyproject.toml names none): the README travels inside the installed package's metadata, and --readme prints it.
README_HINT = f"the README ({CMD} --readme prints it)"
EXAMPLES = f"""
examples:
  {CMD} --user_name alice --schedule_time 30
      sync alice's runs into the spreadsheet of config.json now, then every 30 minutes
  {CMD} --once --dry-run
      show what one sync would change, write nothing
  {CMD} --once --project my-lab/resnet --sheet_name "ResNet runs"
  {CMD} --once --source ./wandb --output runs.xlsx
      no accounts: read W&B's local run folders, write an Excel workbook
  {CMD} --check
      try the whole set-up (config, Google, sharing, W&B key and projects) without writing anything
  WEBHOOK_SECRET=... {CMD} --listen 0.0.0.0:8080
      sync on a schedule and as soon as a W&B automation says a run changed; /healthz, /readyz, /metrics
  {CMD} --login client_secret.json
      sign in to Google with your own account (an OAuth client of type "Desktop app"); works over SSH

secrets come from the environment: WANDB_API_KEY (or `wandb login`), WEBHOOK_SECRET. Google, first found wins:
GCP_JSON or GOOGLE_APPLICATION_CREDENTIALS (a key or any credentials file), the --login token, gcloud's ADC file,
the metadata server on Google Cloud; IMPERSONATE_SERVICE_ACCOUNT acts as a service account without a key.
Every config key (config.json), the W&B automation, Docker and Kubernetes are in {README_HINT}
exit codes: 0 ok, 1 a sync (or a --check) failed, 2 configuration or credentials, 130 interrupted.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Raw examples, and each option's default shown where its help does not say it already."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=_prog(),
        description="Keep a Google Sheet (or an .xlsx/.csv file) in step with Weights & Biases runs, "
                    "one row per run, without ever losing what people typed into it.",
        epilog=EXAMPLES, formatter_class=_Formatter)
    what = p.add_argument_group("what to sync")
    what.add_argument("--project", action="append", metavar="ENTITY/PROJECT",
                      help="the W&B project (repeat for several, each to its own worksheet; default: "
                           "WANDB_ENTITY/WANDB_PROJECT or PROJECTS of the config)")
    what.add_argument("--user_name", metavar="NAME", help="sync only this W&B user's runs (default: every user's)")
    what.add_argument("--source", metavar="DIR", help="read W&B run folders under DIR instead of the W&B API")
    where = p.add_argument_group("where to")
    where.add_argument("--sheet_name", metavar="SPREADSHEET",
                       help="the spreadsheet's URL, key or title (default: SPREADSHEET of the config)")
    where.add_argument("--output", metavar="FILE", help="write FILE.xlsx or FILE.csv instead of Google Sheets")
    often = p.add_argument_group("how often")
    often.add_argument("--schedule_time", type=int, metavar="MINUTES",
                       help="minutes between syncs (default: 30, or SCHEDULE_TIME)")
    often.add_argument("--once", action="store_true", help="run one sync and exit (cron, CI, Kubernetes CronJob)")
    often.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                       help="print what would change, write nothing")
    signing = p.add_argument_group("signing in")
    signing.add_argument("--login", nargs="?", const="", metavar="CLIENT_FILE",
                         help="sign in to Google with your own account and store the token (0600) for later syncs; "
                              "CLIENT_FILE is an OAuth client of type Desktop app (default: OAUTH_CLIENT_FILE)")
    signing.add_argument("--check", action="store_true",
                         help="check the config, Google credentials, the spreadsheet's sharing, the worksheets, the "
                              "W&B key and projects (and the webhook secret with --listen); writes nothing; exit 0 "
                              "only when all pass")
    files = p.add_argument_group("files")
    files.add_argument("--config_path", metavar="FILE", help="the config file (default: ./config.json)")
    files.add_argument("--readme", action="store_true",
                       help="print the README (every config key, Google and W&B set-up, Docker) and exit")
    service = p.add_argument_group("service")
    service.add_argument("--listen", metavar="HOST:PORT",
                         help="also serve POST /webhook (W&B automations, signed with WEBHOOK_SECRET), GET /healthz, "
                              "/readyz and /metrics on HOST:PORT (default: LISTEN, else no server)")
    service.add_argument("--log_level", "--log-level", dest="log_level", default="INFO",
                         choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper,
                         help="INFO is one line per sync (default: %(default)s)")
    service.add_argument("--log_format", "--log-format", dest="log_format", choices=["text", "json"],
                         help="json: one JSON object a line, for log pipelines (default: LOG_FORMAT, else text)")
    service.add_argument("--healthcheck", action="store_true",
                         help="exit 0 if the running service is healthy (GET /healthz when LISTEN is set, else the "
                              "health file), 1 if not (for Docker HEALTHCHECK)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _accept_kebab_case(p)
    return p


def _accept_kebab_case(parser: argparse.ArgumentParser) -> None:
    """--schedule-time for --schedule_time, as wandb's own CLI spells flags: accepted, not shown (the original
    script's snake_case stays the documented form)."""
    for action in list(parser._actions):
        for option in list(action.option_strings):
            kebab = "--" + option[2:].replace("_", "-")
            if option.startswith("--") and kebab != option and kebab not in parser._option_string_actions:
                parser._option_string_actions[kebab] = action


def _prog() -> str:
    """The name the tool was started by: the console script, or the script file of a checkout."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name and name not in ("__main__.py", "-c") else "wandb-spreadsheet-sync"


def setup_logging(level: str, form: str = "text", secrets=()) -> None:
    from . import logs

    logs.setup(level, form, secrets)


def fail(exc: BaseException, code: int) -> int:
    print(f"Error: {exc}", file=sys.stderr)
    return code


def build_clients(settings, stop: threading.Event):
    """The real source and sink for these settings (imports the heavy libraries only now)."""
    if settings.source is not None:
        from .sources.local import LocalSource

        source = LocalSource(settings, stop)
    else:
        from .sources.wandb_api import WandbSource

        source = WandbSource(settings, stop)
    if settings.output is not None:
        from .sinks.local import local_sink

        sink = local_sink(settings.output, stop)
    else:
        from .sinks.google_sheets import GoogleSheetsSink

        sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint,
                                settings.request_timeout, stop, settings.request_bytes,
                                _progress("writing to Google Sheets: {} runs"), settings.requests_per_minute,
                                impersonate=settings.impersonate, login_token=settings.login_token,
                                retry_base=settings.retry_base_seconds,
                                lease_seconds=0 if settings.dry_run else settings.lease_seconds,
                                lease_wait=settings.lease_wait)
    return source, sink


def _progress(text: str = "reading W&B runs: {}"):
    """A progress line on a terminal (nothing in a log file or a container)."""
    if not sys.stderr.isatty():
        return None

    def show(n: int) -> None:
        print("\r" + text.format(n), end="", file=sys.stderr, flush=True)

    return show


STOPPED = threading.Event()


def exit_now(code: int) -> None:
    """Exit with the code; after a stop signal, skip the libraries' exit hooks (wandb waits for its helper
    process there) so `docker stop` is answered within its grace period."""
    if STOPPED.is_set():
        from .files import WRITING

        with WRITING:  # a file write in flight (another thread's) ends first: never half a file
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    sys.exit(code)


HARD_EXIT_SECONDS = 7.0  # after a stop signal; docker stop's grace period is 10 s


def exit_after_writes(code: int, line: str | None = None) -> None:
    """Leave now, but never inside a file write: wait for the write in flight (files.WRITING) to finish, so the
    file is whole and no temporary file is left. Runs in its own thread (a signal handler runs in the main thread,
    which may be the one writing)."""
    from .files import WRITING

    def leave() -> None:
        with WRITING:
            if line:
                print(line, file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(code)

    threading.Thread(target=leave, daemon=True).start()


def interrupted_line(signame: str, exc: BaseException | None) -> str:
    """The one line that says what a stopped sync wrote and did not."""
    if exc is None:
        return f"Interrupted by {signame} as the sync finished: everything was written."
    text = str(exc)
    if "written" not in text:
        text += " Each request sent landed whole or not at all; the next sync writes the rest."
    return f"Interrupted by {signame}: {text}"


def sign_in(args) -> int:
    """--login: the installed-app flow by copy and paste (works over SSH), then where the token is kept."""
    from . import config
    from .errors import SyncError
    from .sinks.google_login import login

    def ask(url: str) -> str:
        print("Open this address in a browser (on any machine), sign in and allow access:\n\n    " + url + "\n\n"
              "The browser then goes to a localhost page that does not load. Copy that page's whole address\n"
              "from the address bar and paste it here, then press Enter:", file=sys.stderr, flush=True)
        try:
            return input()
        except EOFError:
            return ""

    try:
        client, token = config.login_paths(args)
        email = login(client, token, ask)
    except SyncError as exc:
        return fail(exc, exc.exit_code)
    who = email or "your Google account"
    print(f"Signed in to Google as {who}. The token is in {token} (readable by you only); syncs use it from now "
          f"on.\nShare the spreadsheet with {who} as an Editor if it is not yours.", file=sys.stderr)
    return 0


def readme_text() -> str | None:
    """The README: beside the package in a checkout, else from the installed distribution's metadata (pip and pipx
    keep pyproject's `readme` there as the long description)."""
    from importlib import metadata
    from pathlib import Path

    beside = Path(__file__).resolve().parents[1] / "README.md"
    if beside.is_file():
        return beside.read_text(encoding="utf-8")
    try:
        body = metadata.metadata("wandb-spreadsheet-sync").get_payload()
    except metadata.PackageNotFoundError:
        return None
    return body or None


def print_readme() -> int:
    text = readme_text()
    if text is None:
        print("Error: no README found beside the package or in its installed metadata; reinstall with "
              "`pipx install .` from a checkout", file=sys.stderr)
        return 1
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `--readme | head` or `| grep -q`: the reader had what it wanted and left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own advice: no second error
    return 0


def healthcheck(args) -> int:
    """--healthcheck: GET /healthz of the running service when it listens (--listen or LISTEN), else the loop's
    health file. Reads no config file: a container's HEALTHCHECK must be quick."""
    from .config import early, from_environment

    listen = early(args).listen
    if listen is not None:
        from .server import probe

        ok, why = probe(*listen)
    else:
        from .loop import default_health_file, healthy

        ok, why = healthy(from_environment("WSS_HEALTH_FILE") or default_health_file())
    print(why)
    return 0 if ok else 1


def check(args) -> int:
    """--check: one line per finding (check.py), exit 0 only when every check passes."""
    from . import check as checks

    if log.level > logging.DEBUG:
        log.setLevel(logging.WARNING)  # the findings are the output; --log_level DEBUG shows the requests too
    failed = configured = 0
    for finding in checks.run(args, STOPPED):
        print(finding.line(), flush=True)
        failed += not finding.ok
        configured += finding.what == "config" and finding.ok
    if not failed:
        print("all checks passed: the next sync can run")
        return 0
    print(f"{failed} check(s) failed; nothing was written")
    return 1 if configured else 2


def entry() -> None:
    """The console script `wandb-spreadsheet-sync`."""
    exit_now(main())


def main(argv: list[str] | None = None) -> int:
    stop = STOPPED
    stop.clear()  # a second main() in one process (the tests) starts unstopped
    signame = [""]
    interrupted = [False]  # a sync was cut short by the stop: never reported as a success

    def on_signal(signum, frame):
        if stop.is_set():  # a second signal: leave as soon as no file is being written
            exit_after_writes(130, f"Stopped at once by a second {signal.Signals(signum).name}; every file and "
                                   "sheet is whole (a write in flight landed whole or not at all).")
            return
        signame[0] = signal.Signals(signum).name
        stop.set()
        log.info("stopping: %s received", signame[0])
        # A write in flight is one atomic request or a file written aside and renamed: it lands whole or not at
        # all. The timer waits for a file write to end, so it never leaves half a file or a temporary one.
        timer = threading.Timer(HARD_EXIT_SECONDS, exit_after_writes, (130, (
            f"Interrupted by {signame[0]}: no safe point within {HARD_EXIT_SECONDS:.0f} s; a request in flight "
            "lands whole or not at all, every file is whole, and the next sync writes the rest.")))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    args = build_parser().parse_args(argv)
    if args.readme:
        return print_readme()
    if args.healthcheck:
        return healthcheck(args)
    from .config import early

    setup_logging(args.log_level, early(args).log_format)
    if args.login is not None:
        return sign_in(args)
    if args.check:
        return check(args)
    from . import config, logs
    from .errors import Busy, Kind, SyncError
    from .sync import SyncMemory, describe, sync

    try:
        settings = config.load(args)
    except SyncError as exc:
        return fail(exc, exc.exit_code)
    setup_logging(args.log_level, settings.log_format, [settings.webhook_secret, settings.key_file])
    history = SyncMemory()
    try:
        source, sink = build_clients(settings, stop)
    except SyncError as exc:
        return fail(exc, exc.exit_code)

    def tracked_sync(*args, **kwargs):
        try:
            return sync(*args, **kwargs)
        except SyncError as exc:
            interrupted[0] = interrupted[0] or stop.is_set() or exc.kind is Kind.INTERRUPTED
            raise

    def stopped_code() -> int:
        """A stop that cut a sync short, or Ctrl-C, exits 130; SIGTERM (docker stop, a pod's end) that finds the
        loop between syncs stopped nothing: 0."""
        return 130 if interrupted[0] or signame[0] == "SIGINT" else 0

    def one_sync():
        report = tracked_sync(source, sink, settings, history, progress=_progress())
        if sys.stderr.isatty():
            print(file=sys.stderr)
        where = ", ".join(f"{t.target.path} -> {t.target.worksheet}" for t in report.targets)
        log.info("%s", report.line(), extra=logs.fields("sync", where, logs.counts(report)))
        if settings.dry_run:
            for t in report.targets:
                for worksheet, plan in {t.target.worksheet: t.plan, **t.tabs}.items():
                    for line in describe(plan):
                        print(f"  {worksheet}: {line}")
        return report

    if settings.once:
        try:
            one_sync()
        except Busy as exc:  # issue 23: another sync is writing; nothing is wrong (see errors.Busy)
            log.warning("skipped: %s", exc.message)
            return 0
        except SyncError as exc:
            if stop.is_set() or exc.kind is Kind.INTERRUPTED:
                print(interrupted_line(signame[0] or "a stop", exc), file=sys.stderr)
                return 130
            return fail(exc, exc.exit_code)
        if stop.is_set():
            print(interrupted_line(signame[0], None), file=sys.stderr)
            return 130
        return 0

    if settings.listen is not None:  # the loop and an HTTP server beside it (service.py, server.py)
        from . import service

        try:
            code = service.run(settings, source, sink, history, stop, tracked_sync)
        except SyncError as exc:  # LISTEN's port taken, say, or a sync still in flight at the stop
            if exc.kind is Kind.INTERRUPTED:
                print(interrupted_line(signame[0] or "a stop", exc), file=sys.stderr)
                return 130
            return fail(exc, exc.exit_code)
        return stopped_code() if stop.is_set() else code

    from . import loop

    code = loop.run(one_sync, settings.schedule_minutes, stop, settings.health_file)
    return stopped_code() if stop.is_set() else code
