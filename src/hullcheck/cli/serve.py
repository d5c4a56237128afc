"""hullcheck serve admission --policy FILE --tls-cert C --tls-key K [--port N] [--cache-ttl S]
[--failure-policy fail|ignore] [--review-timeout DURATION] [--max-concurrent-reviews N]"""

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
    a.add_argument("--policy", type=Path, required=True, metavar="FILE")
    a.add_argument("--tls-cert", type=Path, required=True, metavar="PEM")
    a.add_argument("--tls-key", type=Path, required=True, metavar="PEM")
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
            stop.wait()
        finally:
            server.shutdown()
    return 0
