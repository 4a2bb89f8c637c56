"""What a curl exit code means: the one table every check, hint and traffic matrix reads.

Meanings are curl's own (man curl, EXIT CODES), narrowed to what they mean in the labs:

- 60 is any failure to verify the server's certificate: an unknown CA, an expired certificate or a name
  that does not match (curl: "SSL peer certificate or SSH remote key was not OK").
- 35 is a TLS handshake that failed. Under TLS 1.3 the client's part of the handshake ends before the
  server checks the client certificate, so a server that requires one (a MUTUAL gateway) shows up
  afterwards, as 56 ("tlsv13 alert certificate required"), or, when Envoy's alert races its close on
  loopback, only as the dropped connection: 16 with HTTP/2, 55 with HTTP/1.1.
- 56 on a plaintext request is a reset connection: a sidecar in STRICT mode closing a request without
  mTLS.
"""
from __future__ import annotations

from dataclasses import dataclass

# exit code → the name a table shows and a check may expect
CURL_EXIT_NAMES = {6: "no such host", 7: "refused", 28: "timeout", 35: "TLS failure", 52: "empty reply",
                   56: "reset", 60: "untrusted certificate"}
# Over TLS these mean the server ended the TLS session (see the module docstring).
TLS_FAILURE_CODES = (16, 35, 55, 56)
# The names a check may expect, with the exit codes that satisfy them.
EXPECTABLE = {"refused": (7,), "timeout": (28,), "no such host": (6,), "empty reply": (52,), "reset": (56,),
              "untrusted": (60,), "TLS failure": TLS_FAILURE_CODES}
# Older spellings of the same expectations.
ALIASES = {"untrusted certificate": "untrusted", "bad certificate": "untrusted", "TLS error": "TLS failure"}


def exit_name(code: int, tls: bool) -> str:
    """The name of an exit code for a request over TLS (`tls`) or plaintext."""
    if tls and code in TLS_FAILURE_CODES:
        return "TLS failure"
    return CURL_EXIT_NAMES.get(code, "curl error")


def expected_codes(expected: str, tls: bool = True) -> tuple[int, ...]:
    """The exit codes that satisfy an expected name; only a TLS request can end in 16/55/56 as a TLS failure."""
    name = ALIASES.get(expected, expected)
    codes = EXPECTABLE.get(name, ())
    if name == "TLS failure" and not tls:
        return (35,)
    return codes


def is_status(expected) -> bool:
    return isinstance(expected, int) or str(expected).isdigit()


def describe_expected(expected) -> str:
    """An expectation as a check title shows it: `200`, `refused (curl 7)`, `TLS failure (curl 16/35/55/56)`."""
    if is_status(expected):
        return str(expected)
    codes = expected_codes(str(expected))
    return f"{expected} (curl {'/'.join(str(c) for c in codes)})" if codes else str(expected)


@dataclass(frozen=True)
class Outcome:
    """One real curl: its HTTP status or its exit code."""
    client: str      # "curl.foo", or "this machine"
    target: str      # the URL
    status: str      # curl's %{http_code}: "200", "503", "000" when no HTTP response came back
    exit_code: int
    error: str = ""  # curl's own message (stderr), e.g. "Recv failure: Connection reset by peer"
    body: str = ""

    @property
    def tls(self) -> bool:
        return self.target.startswith("https://")

    @property
    def answered(self) -> bool:
        return self.exit_code == 0 and self.status not in ("", "000")

    @property
    def reset(self) -> bool:
        return self.exit_code == 56

    @property
    def tls_failed(self) -> bool:
        return not self.answered and self.exit_code in expected_codes("TLS failure", self.tls)

    @property
    def label(self) -> str:
        """What a table shows: the status, or what went wrong and curl's exit code."""
        if self.answered:
            return self.status
        return f"{exit_name(self.exit_code, self.tls)} ({self.exit_code})"

    def matches(self, expected) -> bool:
        """`expected` is an HTTP status (200, "503") or a name from EXPECTABLE ("reset", "TLS failure")."""
        if is_status(expected):
            return self.answered and self.status == str(expected)
        return not self.answered and self.exit_code in expected_codes(str(expected), self.tls)
