"""hullcheck serve admission --policy FILE --tls-cert C --tls-key K [--port N] [--cache-ttl S]
[--failure-policy fail|ignore]"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from hullcheck.cli.common import add_image_options, pull_options
from hullcheck.errors import UsageError
from hullcheck.policy import load


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
                    "See docs/admission.md.",
    )
    a.add_argument("--policy", type=Path, required=True, metavar="FILE")
    a.add_argument("--tls-cert", type=Path, required=True, metavar="PEM")
    a.add_argument("--tls-key", type=Path, required=True, metavar="PEM")
    a.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    a.add_argument("--port", type=int, default=8443, help="port (default 8443)")
    a.add_argument("--cache-ttl", type=float, default=300.0, metavar="SECONDS",
                   help="keep a decision per image digest this long (default 300; 0: no cache)")
    a.add_argument("--failure-policy", choices=("fail", "ignore"), default="fail",
                   help="when the registry cannot be reached: fail (deny, the default) or "
                        "ignore (allow with a warning)")
    a.add_argument("--db", type=Path, metavar="PATH",
                   help="advisory database, for policies with vulnerability rules")
    a.add_argument("--base-trust", type=Path, metavar="FILE",
                   help="trust file for the base-image rules")
    add_image_options(a, timeout=False)  # a review's deadline is per request, not the process's
    a.set_defaults(func=run_admission)


def run_admission(args: argparse.Namespace) -> int:
    from hullcheck.image.remote import make_client
    from hullcheck.server.admission import controller_for
    from hullcheck.server.admission_http import serve

    if args.cache_ttl < 0:
        raise UsageError("--cache-ttl must not be negative")
    policy = load(args.policy)
    pull = pull_options(args)
    with make_client(pull) as client:
        controller = controller_for(policy, client=client, pull=pull, db=args.db,
                                    base_trust=args.base_trust, cache_ttl=args.cache_ttl,
                                    failure_policy=args.failure_policy)
        server = serve(controller, host=args.host, port=args.port, cert=args.tls_cert,
                       key=args.tls_key)
        if not args.quiet:
            print(f"hullcheck admission webhook: policy {policy.name!r} on "
                  f"https://{args.host}:{server.port}/validate "
                  f"(failure policy {args.failure_policy}, cache {args.cache_ttl:g}s)",
                  file=sys.stderr)
        try:
            threading.Event().wait()
        finally:
            server.shutdown()
            server.server_close()
    return 0
