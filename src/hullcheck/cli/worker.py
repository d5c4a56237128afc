"""hullcheck worker [--database-url URL] [--data-dir DIR] [--config FILE] [--threads N]
[--lease DURATION] [--delivery-lease DURATION]: run the monitor's jobs until interrupted."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from hullcheck.deadline import parse_duration
from hullcheck.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker", help="run the monitoring service's jobs (scans, re-matches, deliveries)",
        description="Run the monitor's jobs: with --database-url (PostgreSQL) as procrastinate "
                    "workers, any number of them on any machines; without, the jobs of the "
                    "SQLite store in --data-dir. Stops on SIGINT or SIGTERM after the running "
                    "jobs. See docs/monitor.md.")
    p.add_argument("--database-url", metavar="URL",
                   help="the fleet database (postgresql://...); default: SQLite in --data-dir")
    p.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="where the advisory database lives (default: the user data dir)")
    p.add_argument("--config", type=Path, metavar="FILE", help="the monitor config (YAML)")
    p.add_argument("--threads", type=int, default=2, metavar="N",
                   help="jobs run at once (default 2)")
    p.add_argument("--lease", default="10m", metavar="DURATION",
                   help="how long a job of a worker that stopped answering (killed, cut off) "
                        "waits before another worker takes it (default 10m)")
    p.add_argument("--delivery-lease", default="2m", metavar="DURATION",
                   help="the same for a delivery being sent (default 2m; more than a "
                        "channel's timeout)")
    p.set_defaults(func=run)


def _data_dir(arg: Path | None) -> Path:
    if arg is not None:
        return arg
    import platformdirs

    return Path(platformdirs.user_data_dir("hullcheck")) / "monitor"


def run(args: argparse.Namespace) -> int:
    from hullcheck.monitor.config import Config, load_config
    from hullcheck.monitor.service import Service

    if args.threads < 1 or args.threads > 64:
        raise UsageError("--threads must be between 1 and 64")
    lease, delivery_lease = parse_duration(args.lease), parse_duration(args.delivery_lease)
    if lease < 1 or delivery_lease < 1:
        raise UsageError("--lease and --delivery-lease must be at least 1s")
    config = load_config(args.config) if args.config is not None else Config()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="hullcheck worker: %(message)s")
    with Service.open(data_dir=_data_dir(args.data_dir), database_url=args.database_url,
                      config=config) as svc:
        svc.ctx.job_lease = dt.timedelta(seconds=lease)
        svc.ctx.delivery_lease = dt.timedelta(seconds=delivery_lease)

        def stop(_signum: int, _frame: FrameType | None) -> None:
            svc.stop_worker()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"hullcheck worker {svc.ctx.worker}: {svc.mode} mode, {args.threads} threads",
              file=sys.stderr, flush=True)
        svc.run_worker(threads=args.threads)
    return 0
