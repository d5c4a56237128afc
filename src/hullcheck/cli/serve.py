"""hullcheck serve admission --policy FILE --tls-cert C --tls-key K [--port N] [--cache-ttl S]
[--failure-policy fail|ignore] [--review-timeout DURATION] [--max-concurrent-reviews N]

hullcheck serve monitor --listen HOST:PORT --data-dir DIR [--database-url URL] [--config FILE]
[--no-worker] [--rate-limit RATE]"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from hullcheck.deadline import parse_duration
from hullcheck.errors import UsageError
from hullcheck.policy import load

MAX_REVIEW_TIMEOUT = 30.0  # Kubernetes caps a webhook's timeoutSeconds at 30
# Never used by the webhook: a Pod author picks the registry (see docs/admission.md).
IGNORED_ENVIRONMENT = ("HULLCHECK_REGISTRY_USERNAME", "HULLCHECK_REGISTRY_PASSWORD")
CREDENTIALS_HINT = ("the webhook takes registry credentials only from a Docker config, by host: "
                    "set DOCKER_CONFIG to a directory holding config.json (e.g. a mounted "
                    "kubernetes.io/dockerconfigjson Secret); see docs/admission.md")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run a hullcheck service",
                       description="Run a hullcheck network service.")
    ssub = p.add_subparsers(dest="service", metavar="SERVICE")
    ssub.required = True
    a = ssub.add_parser(
        "admission",
        help="Kubernetes ValidatingAdmissionWebhook: judge Pod images against a policy",
        description="Serve admission.k8s.io/v1 AdmissionReviews over HTTPS. Every container, "
                    "init container and ephemeral container image of a Pod (or of a workload's "
                    "Pod template) is resolved to a digest and evaluated against the policy. "
                    "Registry credentials come only from the Docker config (DOCKER_CONFIG), by "
                    "host. See docs/admission.md.",
    )
    a.add_argument("--policy", type=Path, required=True, metavar="FILE",
                   help="the policy every Pod's images are judged by (YAML, see docs/policy.md)")
    a.add_argument("--tls-cert", type=Path, required=True, metavar="PEM",
                   help="the server's certificate chain (PEM); the API server must trust it "
                        "(the webhook configuration's caBundle)")
    a.add_argument("--tls-key", type=Path, required=True, metavar="PEM",
                   help="the certificate's private key (PEM)")
    a.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    a.add_argument("--port", type=int, default=8443, help="port (default 8443)")
    a.add_argument("--cache-ttl", type=float, default=300.0, metavar="SECONDS",
                   help="keep a decision per image digest this long (default 300; 0: no cache)")
    a.add_argument("--failure-policy", choices=("fail", "ignore"), default="fail",
                   help="when a registry cannot be reached (connection refused, DNS failure, "
                        "timeout): fail (deny, the default) or ignore (allow with a warning). "
                        "A registry that answers 401, 403, 404, 5xx or garbage is always denied")
    a.add_argument("--review-timeout", default="8s", metavar="DURATION",
                   help="answer every review within this (default 8s); keep it below the "
                        "webhook configuration's timeoutSeconds (Kubernetes' default is 10). "
                        "A review not decided in time is a failure: see --failure-policy")
    a.add_argument("--max-concurrent-reviews", type=int, default=16, metavar="N",
                   help="reviews evaluated at once (default 16); more are answered at once by "
                        "the failure policy")
    a.add_argument("--max-connections", type=int, default=512, metavar="N",
                   help="open connections (default 512); more are closed on arrival")
    a.add_argument("--db", type=Path, metavar="PATH",
                   help="advisory database, for policies with vulnerability rules")
    a.add_argument("--base-trust", type=Path, metavar="FILE",
                   help="trust file for the base-image rules")
    a.add_argument("--insecure", action="store_true",
                   help="allow plain HTTP and unverified TLS to registries")
    # Refused (not unknown) so the message can say where credentials come from instead.
    a.add_argument("--username", help=argparse.SUPPRESS)
    a.add_argument("--password-stdin", action="store_true", help=argparse.SUPPRESS)
    a.set_defaults(func=run_admission)
    _register_monitor(ssub)


def _register_monitor(ssub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    m = ssub.add_parser(
        "monitor",
        help="the monitoring service: REST API, intake, re-matching and alerts",
        description="Serve the monitoring service's REST API (/api/v1, docs/api.md) and run "
                    "its worker in this process: scans of pushed images, advisory updates "
                    "with delta re-matching, alerts. Every API call needs a token of "
                    "'hullcheck token create'. Embedded mode keeps everything in DIR "
                    "(SQLite); --database-url postgresql://... shares one database between "
                    "any number of API nodes and workers (see docs/monitor.md).",
    )
    m.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="address to serve on (default 127.0.0.1:8080; port 0: any free port)")
    m.add_argument("--data-dir", type=Path, required=True, metavar="DIR",
                   help="the service's data: its SQLite database (unless --database-url) and "
                        "advisory database")
    m.add_argument("--database-url", metavar="URL",
                   help="a PostgreSQL database shared by every node (postgresql://USER@HOST/DB)")
    m.add_argument("--config", type=Path, metavar="FILE",
                   help="the monitor config (YAML): registries, advisories, channels, alerts, "
                        "policy (docs/monitor.md); without it no registry may be pulled from")
    m.add_argument("--no-worker", action="store_true",
                   help="serve the API only; 'hullcheck worker' runs the jobs elsewhere")
    m.add_argument("--rate-limit", default="120/minute", metavar="RATE",
                   help="intake calls per token (scan requests, events, uploads, SBOMs, "
                        "deployments), e.g. 120/minute (default) or 5/second; more get 429")
    m.set_defaults(func=run_monitor)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {text!r}: write HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def _service_log(quiet: bool) -> None:
    """The service's log (the API's internal errors, the worker's failed jobs and
    deliveries) on standard error, one line each; the library only logs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name, level in (("hullcheck", logging.WARNING if quiet else logging.INFO),
                        ("procrastinate", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def run_monitor(args: argparse.Namespace) -> int:
    from hullcheck.monitor.config import Config, load_config
    from hullcheck.monitor.service import Service
    from hullcheck.server.api import ApiSettings
    from hullcheck.server.api_serve import ApiServer
    from hullcheck.server.pages import create_app  # the API and the web pages

    host, port = parse_listen(args.listen)
    settings = ApiSettings(intake_rate=args.rate_limit)
    config = load_config(args.config) if args.config is not None else Config()
    _service_log(args.quiet)
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()  # a service manager stops us with SIGTERM: leave cleanly, exit 0

    _hold_signals()
    with Service.open(data_dir=args.data_dir, database_url=args.database_url,
                      config=config) as service:
        server = ApiServer(create_app(service, settings=settings), host=host, port=port).start()
        try:
            signal.signal(signal.SIGTERM, on_term)
            if not args.quiet:
                worker = "no worker" if args.no_worker else "worker in this process"
                print(f"hullcheck monitor: {server.url}/api/v1 ({service.mode}, {worker}, "
                      f"config {config.source}); pages on {server.url}/",
                      file=sys.stderr, flush=True)
            if not args.no_worker:
                service.start_worker()
            _wait(stop)
        finally:
            server.shutdown()
    return 0


def _limits(args: argparse.Namespace) -> tuple[float, int, int]:
    if args.username is not None or args.password_stdin:
        raise UsageError("serve admission does not take --username or --password-stdin",
                         hint=CREDENTIALS_HINT)
    if args.cache_ttl < 0:
        raise UsageError("--cache-ttl must not be negative")
    review_timeout = parse_duration(args.review_timeout)
    if review_timeout >= MAX_REVIEW_TIMEOUT:
        raise UsageError(f"--review-timeout {args.review_timeout}: must be under 30s, the "
                         "largest timeoutSeconds Kubernetes allows a webhook")
    for flag, value in (("--max-concurrent-reviews", args.max_concurrent_reviews),
                        ("--max-connections", args.max_connections)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1")
    return review_timeout, args.max_concurrent_reviews, args.max_connections


def _drop_environment_credentials(quiet: bool) -> None:
    """Remove HULLCHECK_REGISTRY_* from this process (and the credential helpers it runs):
    set for another command, they must not reach a registry a Pod names."""
    found = [name for name in IGNORED_ENVIRONMENT if name in os.environ]
    for name in found:
        del os.environ[name]
    if found and not quiet:
        print(f"hullcheck: note: ignoring {' and '.join(found)}: {CREDENTIALS_HINT}",
              file=sys.stderr)


def _decision_log() -> None:
    """One JSON line per decision on standard error (the library only logs)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("hullcheck.admission")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run_admission(args: argparse.Namespace) -> int:
    from hullcheck.pipeline.admission import Admission
    from hullcheck.server.admission import controller_for
    from hullcheck.server.admission_http import Limits, serve

    review_timeout, concurrent, connections = _limits(args)
    _drop_environment_credentials(args.quiet)
    policy = load(args.policy)
    limits = Limits(review_timeout=review_timeout, max_concurrent=concurrent,
                    max_connections=connections)
    _decision_log()
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()  # Kubernetes stops a Pod with SIGTERM: leave cleanly, exit 0

    _hold_signals()
    with Admission(policy, insecure=args.insecure, db=args.db,
                   base_trust=args.base_trust) as admission:
        controller = controller_for(admission, cache_ttl=args.cache_ttl,
                                    failure_policy=args.failure_policy)
        server = serve(controller, host=args.host, port=args.port, cert=args.tls_cert,
                       key=args.tls_key, limits=limits)
        signal.signal(signal.SIGTERM, on_term)
        if not args.quiet:
            print(f"hullcheck admission webhook: policy {policy.name!r} on "
                  f"https://{args.host}:{server.port}/validate "
                  f"(failure policy {args.failure_policy}, review timeout {review_timeout:g}s, "
                  f"{concurrent} reviews at once, cache {args.cache_ttl:g}s)",
                  file=sys.stderr, flush=True)
        try:
            _wait(stop)
        finally:
            server.shutdown()
    return 0


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _hold_signals() -> None:
    """Block the stop signals in this (the main) thread before the server and worker threads
    start: threads inherit the mask, so the kernel delivers SIGTERM to the main thread only."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


def _wait(stop: threading.Event) -> None:
    """Take the stop signals again and block until ``stop`` is set by the SIGTERM handler.
    In slices too: had the kernel handed the signal to another thread, Python would run the
    handler only when the main thread next executes bytecode, which an endless wait never
    does (a stopped service then hung until killed)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    while not stop.wait(0.5):
        pass
