"""The built-in secret rules: one row per kind of secret.

Each rule has a stable id (used in allow-lists, policies and reports), a title, a
severity, lower-case **keywords** (the rule runs on a file only when one of them occurs
in it, in any case: the cheap multi-pattern prefilter), a regular expression over bytes
whose ``secret`` group (else the whole match) is the secret, and optionally a minimum
Shannon entropy of the secret, a path pattern the rule is limited to, a check that
rejects placeholders (``${TOKEN}``, ``<password>``, ``changeme``...), and for the rules whose
keywords are common (``://``, ``curl``, ``password``) a *gate*: a pattern found wherever the
expression matches, which the one hyperscan pass looks for beside the keywords.

Patterns follow the public facts of the formats (prefixes, alphabets and lengths as the
vendors document them and as gitleaks and Trivy match them).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from hullcheck.model import Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    id: str
    title: str
    severity: Severity
    regex: str  # Python ``re`` syntax, applied to bytes; group ``secret`` is the secret
    keywords: tuple[str, ...] = ()  # lower case; empty: the rule runs on every file
    entropy: float = 0.0  # minimum Shannon entropy (bits per character) of the secret
    paths: str = ""  # when set, the rule only applies to files whose path matches (re.search)
    reject_placeholders: bool = False
    # False: a match lies within one line holding a keyword (the expression runs on those
    # lines only); True: it may span lines (runs on the whole file).
    multiline: bool = False
    # A pattern that matches wherever ``regex`` does (the same, or a part every match holds):
    # with hyperscan, the rule runs on a file only when its gate occurs in it too
    # (``engine``). Built-in rules only: hyperscan reads Python's syntax not quite alike.
    gate: str = ""

    def compiled(self) -> re.Pattern[bytes]:
        return re.compile(self.regex.encode())

    def path_pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.paths) if self.paths else None


def shannon_entropy(data: bytes) -> float:
    """Bits per character of ``data`` (0 for empty)."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


# Values that stand for a secret rather than being one: templates, variables, examples.
_PLACEHOLDER = re.compile(
    rb"""(?ix)
    ^(?:[$%{<\[(*]|\\\$)          # ${VAR}, $VAR, %(x)s, {{ x }}, <password>, [secret], ***
    | ^(?:x+|\*+|\.+|-+)$
    | ^(?:password|passwd|pass|secret|changeme|change_me|example|redacted|hidden|none|null
         |undefined|dummy|test|testing|foobar|foo|bar|user|username|pwd|mypassword
         |yourpassword|your_password|secretpassword|s3cr3t|letmein|admin|root|default)$
    | example|placeholder|your[_-]?(?:token|password|secret|key)|xxxx
    """
)


def is_placeholder(value: bytes) -> bool:
    return _PLACEHOLDER.search(value) is not None


_Q = r"""["']?"""  # an optional quote
_ASSIGN = r"""\s*(?:=>|:=|=|:)\s*"""
_END = r"""(?![A-Za-z0-9/+=])"""
# The rest of one shell command: no line end, ';', '|' or '&&'; a backslash escapes anything
# (a line continuation too). It stops at the next curl/wget and at 1 KiB, so the expression
# stays linear on hostile text ("curl curl curl ...": 10 MB in 0.5 s).
_CMD_GAP = r"""(?:(?!curl|wget)(?:[^;|&\n\\]|&(?!&)|\\[\s\S])){0,1024}?"""

_AWS_KEY_ID = (r"(?<![A-Z0-9])(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA"
               r"|AIPA|ANPA|ANVA)[A-Z2-7]{16})(?![A-Z0-9])")
_AWS_SECRET = (rf"(?i)(?<![A-Za-z0-9])aws_?(?:secret)?_?(?:access)?_?key{_Q}{_ASSIGN}{_Q}"
               rf"(?P<secret>[A-Za-z0-9/+]{{40}}){_END}")
# The gates of those two: a part of every match, cheaper to compile (3 ms against 12 and 6).
_AWS_KEY_ID_GATE = (r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)"
                    r"[A-Z2-7]{10}")
_AWS_SECRET_GATE = (rf"(?i)aws_?(?:secret)?_?(?:access)?_?key{_Q}{_ASSIGN}{_Q}"
                    r"[A-Za-z0-9/+]{16}")
_GENERIC = (r"(?i)(?:password|passwd|secret|api_?key"
            r"|access_?token|auth_?token)(?:[_.-][A-Za-z0-9]+)*[\"']?"
            r"\s*(?:=>|:=|=|:)\s*[\"']?(?P<secret>(?=[A-Za-z!#%*+./=?@^_~-]*[0-9])"
            r"(?=[0-9!#%*+./=?@^_~-]*[A-Za-z])[A-Za-z0-9!#%*+./=?@^_~-]{10,100})"
            r"(?![A-Za-z0-9!#%*+./=?@^_~(\[-])")

RULES: tuple[Rule, ...] = (
    # Order matters where two rules match the same bytes: the earlier (more specific) wins.
    Rule(
        id="aws-access-key-id",
        title="AWS access key ID",
        severity=Severity.CRITICAL,
        regex=_AWS_KEY_ID,
        # "asia", "anva": in words of any text. 10 of the key's 16 characters, no
        # lookarounds: hyperscan compiles this in 3 ms, the whole expression in 12 (as
        # selective on the big image's layers; 8 let 5 MB of minified files through).
        gate=_AWS_KEY_ID_GATE,
        keywords=("akia", "asia", "abia", "acca", "a3t", "agpa", "aida", "aroa", "aipa", "anpa",
                  "anva"),
        entropy=3.0,
        reject_placeholders=True,  # AWS's documented AKIAIOSFODNN7EXAMPLE
    ),
    Rule(
        id="aws-secret-access-key",
        title="AWS secret access key",
        severity=Severity.CRITICAL,
        regex=_AWS_SECRET,
        gate=_AWS_SECRET_GATE,
        # Every match holds "aws" then "_", "s"(ecret), "a"(ccess) or "k"(ey): "aws" alone is
        # in a third of a Python tree's files ("laws", "draws"), each line of it searched.
        keywords=("aws_", "awss", "awsa", "awsk"),
        entropy=4.0,
        reject_placeholders=True,
    ),
    Rule(
        id="gcp-service-account-key",
        title="Google Cloud service account private key",
        severity=Severity.CRITICAL,
        regex=r'"private_key"\s*:\s*"-----BEGIN (?:RSA )?PRIVATE KEY-----\\n'
              r'(?P<secret>[A-Za-z0-9+/=\\n]{64,}?)-----END (?:RSA )?PRIVATE KEY-----',
        keywords=('"private_key"',),
    ),
    Rule(
        id="azure-storage-account-key",
        title="Azure storage account key",
        severity=Severity.CRITICAL,
        regex=r"(?i)AccountKey\s*=\s*(?P<secret>[A-Za-z0-9+/]{86}==)",
        keywords=("accountkey",),
        entropy=4.0,
    ),
    Rule(
        id="github-pat",
        title="GitHub personal access token",
        severity=Severity.CRITICAL,
        regex=r"\b(?P<secret>ghp_[0-9A-Za-z]{36})\b",
        keywords=("ghp_",),
    ),
    Rule(
        id="github-oauth",
        title="GitHub OAuth access token",
        severity=Severity.CRITICAL,
        regex=r"\b(?P<secret>gho_[0-9A-Za-z]{36})\b",
        keywords=("gho_",),
    ),
    Rule(
        id="github-app-token",
        title="GitHub App token",
        severity=Severity.CRITICAL,
        regex=r"\b(?P<secret>gh[us]_[0-9A-Za-z]{36})\b",
        keywords=("ghu_", "ghs_"),
    ),
    Rule(
        id="github-fine-grained-pat",
        title="GitHub fine-grained personal access token",
        severity=Severity.CRITICAL,
        regex=r"\b(?P<secret>github_pat_[0-9A-Za-z]{22}_[0-9A-Za-z]{59})\b",
        keywords=("github_pat_",),
    ),
    Rule(
        id="gitlab-pat",
        title="GitLab personal access token",
        severity=Severity.CRITICAL,
        regex=r"\b(?P<secret>glpat-[0-9A-Za-z_-]{20})(?![0-9A-Za-z_-])",
        keywords=("glpat-",),
    ),
    Rule(
        id="slack-token",
        title="Slack token",
        severity=Severity.HIGH,
        regex=r"\b(?P<secret>xox[baprs]-[0-9A-Za-z]{10,48}(?:-[0-9A-Za-z]{1,64}){0,4})",
        keywords=("xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"),
    ),
    Rule(
        id="slack-webhook",
        title="Slack incoming webhook URL",
        severity=Severity.MEDIUM,
        regex=r"https://hooks\.slack\.com/(?:services|workflows)/"
              r"(?P<secret>T[A-Za-z0-9_]{8,12}/B[A-Za-z0-9_]{8,12}/[A-Za-z0-9_]{24})",
        keywords=("hooks.slack.com",),
        reject_placeholders=True,  # Slack's documented T00000000/B00000000/XXXX...
    ),
    Rule(
        id="stripe-secret-key",
        title="Stripe live secret or restricted key",
        severity=Severity.CRITICAL,
        regex=r"\b(?P<secret>[sr]k_live_[0-9A-Za-z]{24,99})\b",
        keywords=("sk_live_", "rk_live_"),
    ),
    Rule(
        id="private-key",
        title="Private key (PEM / OpenSSH)",
        severity=Severity.HIGH,
        regex=r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----\s*"
              r"(?P<secret>(?:[A-Za-z0-9+/=:,-]+[ \t]*\r?\n){2,}?)"
              r"[A-Za-z0-9+/=]*\s*-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
        keywords=("private key-----",),
        entropy=4.5,
        multiline=True,
    ),
    Rule(
        id="jwt",
        title="JSON Web Token",
        severity=Severity.MEDIUM,
        regex=r"(?<![A-Za-z0-9_-])(?P<secret>eyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_-]{15,}\."
              r"[A-Za-z0-9_-]{16,})",
        keywords=("eyj",),
    ),
    Rule(
        id="npm-access-token",
        title="npm access token",
        severity=Severity.CRITICAL,
        regex=r"\b(?P<secret>npm_[0-9A-Za-z]{36})\b",
        keywords=("npm_",),
    ),
    Rule(
        id="npmrc-auth",
        title="npm registry credentials in .npmrc",
        severity=Severity.CRITICAL,
        regex=r"(?im)^\s*(?:[^\s=]*:)?_(?:authToken|auth|password)\s*=\s*[\"']?"
              r"(?P<secret>[^\s\"']{6,})",
        keywords=("_auth", "_password"),
        paths=r"(?:^|/)\.?npmrc$",
        reject_placeholders=True,
    ),
    Rule(
        id="pypirc-password",
        title="Package index password in .pypirc",
        severity=Severity.HIGH,
        regex=r"(?im)^\s*password\s*[:=]\s*(?P<secret>\S{4,})",
        keywords=("password",),
        paths=r"(?:^|/)\.pypirc$",
        reject_placeholders=True,
    ),
    Rule(
        id="docker-config-auth",
        title="Registry credentials in Docker config.json",
        severity=Severity.CRITICAL,
        regex=r'"(?:auth|identitytoken)"\s*:\s*"(?P<secret>[A-Za-z0-9+/=._-]{8,})"',
        keywords=('"auth"', '"identitytoken"'),
        paths=r"(?:^|/)(?:\.docker/config\.json|containers/auth\.json|\.dockercfg)$",
    ),
    Rule(
        id="netrc-password",
        title="Password in .netrc",
        severity=Severity.HIGH,
        regex=r"(?m)(?:^|\s)password\s+(?P<secret>\S{3,})",
        keywords=("password",),
        paths=r"(?:^|/)[._]netrc$",
        reject_placeholders=True,
    ),
    Rule(
        id="command-line-password",
        title="Password on a curl or wget command line",
        severity=Severity.HIGH,
        # curl -u/--user/-U/--proxy-user USER:PASSWORD; wget --[http-|ftp-|proxy-]password
        # PASSWORD; within one command (no ; | && between), backslash continuations allowed.
        regex=rf"(?<![\w.-])(?:curl(?![\w-]){_CMD_GAP}\s(?:-[uU]\s*|--(?:proxy-)?user[=\s]\s*)"
              rf"""["']?[^\s"':;|&]+:|wget(?![\w-]){_CMD_GAP}\s--(?:http-|ftp-|proxy-)?"""
              rf"""passw(?:or)?d(?:=|\s+)["']?)(?P<secret>[^\s"'`;|&\\]{{3,128}})""",
        keywords=("curl", "wget"),
        reject_placeholders=True,  # -u user:password, -u "$USER:$PASS", --password=${PW}
        multiline=True,
        # What every match holds: the option before the password. (The expression itself
        # takes hyperscan ~10 s to compile, for its 1 KiB gap.)
        gate=r"\s(?:-[uU]|--(?:proxy-)?user[=\s])|\s--(?:http-|ftp-|proxy-)?passw(?:or)?d[=\s]",
    ),
    Rule(
        id="url-password",
        title="Password in a URL",
        severity=Severity.HIGH,
        regex=r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[A-Za-z0-9._~%!$&'()*+,;=-]{1,64}:"
              r"(?P<secret>[^\s:@/\"'<>`\\]{3,128})@[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9]",
        keywords=("://",),
        reject_placeholders=True,
        # What every match holds, unbounded (compiles in 1 ms, the expression in 40).
        gate=r"://[A-Za-z0-9._~%!$&'()*+,;=-]+:[^\s:@/\"'<>`\\]{3,}@",
    ),
    Rule(
        id="generic-password",
        title="Password or secret assigned in a file",
        severity=Severity.MEDIUM,
        regex=_GENERIC,
        gate=_GENERIC,
        keywords=("password", "passwd", "secret", "api_key", "apikey", "access_token",
                  "accesstoken", "auth_token", "authtoken"),
        entropy=3.0,  # a 10-character value has at most log2(10) = 3.3 bits per character
        reject_placeholders=True,
    ),
)
