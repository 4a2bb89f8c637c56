"""nginx.conf as nginx reads it: the directives Istio's samples and tasks use.

Supported (nginx docs, ngx_http_core_module / ngx_http_ssl_module / ngx_http_rewrite_module):
`include` (globs, relative to /etc/nginx), `http`, `server`, `listen [addr:]port [ssl] [default_server]`,
`server_name`, `ssl_certificate`, `ssl_certificate_key`, `ssl_client_certificate`,
`ssl_verify_client on|optional|off`, `root`, `index`, `default_type`, `types`, `add_header`,
`location [=|^~|~|~*] uri`, `return code [text|URL]`. Other directives are read and ignored.
root/index/ssl_*/default_type are inherited from http to server to location, as in nginx.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Callable

CONF_PREFIX = "/etc/nginx"


class ConfError(Exception):
    """What `nginx -t` would print: nginx refuses to start."""


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list["Directive"] | None = None
    where: str = ""


_TOKEN = re.compile(r"""\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"'#]+)""")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


def _unescape(quoted: str) -> str:
    """nginx's escapes inside quotes (ngx_conf_file.c): \\n \\t \\r \\" \\' \\\\; others stay as written."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), quoted)


def parse(text: str, where: str) -> list[Directive]:
    tokens: list[tuple[str, bool]] = []   # (text, is_punctuation)
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConfError(f"unexpected character {text[pos]!r} in {where}")
        pos = match.end()
        if match.group(1) is not None or match.group(2) is not None:
            quoted = match.group(1) if match.group(1) is not None else match.group(2)
            tokens.append((_unescape(quoted), False))
        elif match.group(3):
            tokens.append((match.group(3), True))
        elif match.group(4):
            tokens.append((match.group(4), False))
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    for token, punct in tokens:
        if not punct:
            words.append(token)
        elif token == ";":
            if not words:
                raise ConfError(f'unexpected ";" in {where}')
            stack[-1].append(Directive(words[0], words[1:], None, where))
            words = []
        elif token == "{":
            if not words:
                raise ConfError(f'unexpected "{{" in {where}')
            directive = Directive(words[0], words[1:], [], where)
            stack[-1].append(directive)
            stack.append(directive.block)  # type: ignore[arg-type]
            words = []
        else:
            if words or len(stack) == 1:
                raise ConfError(f'unexpected "}}" in {where}')
            stack.pop()
    if words or len(stack) != 1:
        raise ConfError(f"unexpected end of file, expecting \";\" or \"}}\" in {where}")
    return stack[0]


def _expand_includes(directives: list[Directive], read: Callable[[str], str | None],
                     exists_glob: Callable[[str], list[str]], depth: int = 0) -> list[Directive]:
    out = []
    for d in directives:
        if d.name == "include":
            pattern = d.args[0] if os.path.isabs(d.args[0]) else os.path.join(CONF_PREFIX, d.args[0])
            paths = exists_glob(pattern)
            if not paths and not glob.has_magic(pattern):
                raise ConfError(f'open() "{pattern}" failed (2: No such file or directory) in {d.where}')
            for path in paths:
                if depth > 10:
                    raise ConfError("include nesting too deep")
                out.extend(_expand_includes(parse(read(path) or "", path), read, exists_glob, depth + 1))
        else:
            if d.block is not None:
                d = Directive(d.name, d.args, _expand_includes(d.block, read, exists_glob, depth), d.where)
            out.append(d)
    return out


@dataclass
class Location:
    modifier: str      # "", "=", "^~", "~", "~*"
    uri: str
    settings: dict
    returns: tuple[int, str] | None = None

    def matches(self, path: str) -> bool:
        if self.modifier == "=":
            return path == self.uri
        if self.modifier in ("~", "~*"):
            return re.search(self.uri, path, re.IGNORECASE if self.modifier == "~*" else 0) is not None
        return path.startswith(self.uri)


@dataclass
class Listen:
    port: int
    ssl: bool
    default: bool


@dataclass
class Server:
    listens: list[Listen]
    names: list[str]
    settings: dict                                  # root, index, default_type, ssl_*, add_header
    locations: list[Location] = field(default_factory=list)
    returns: tuple[int, str] | None = None

    def matches_name(self, host: str) -> bool:
        for name in self.names:
            if name.startswith("~") and re.search(name[1:], host):
                return True
            if name.startswith("*.") and host.endswith(name[1:]):
                return True
            if name.startswith(".") and (host == name[1:] or host.endswith(name)):
                return True
            if name.endswith(".*") and host.startswith(name[:-1]):
                return True
            if name == host:
                return True
        return False

    def location_for(self, path: str) -> Location | None:
        """nginx's order: exact `=`, then the longest prefix (final if `^~`), then the first regex."""
        for loc in self.locations:
            if loc.modifier == "=" and loc.matches(path):
                return loc
        prefixes = sorted((loc for loc in self.locations if loc.modifier in ("", "^~") and loc.matches(path)),
                          key=lambda loc: len(loc.uri), reverse=True)
        if prefixes and prefixes[0].modifier == "^~":
            return prefixes[0]
        for loc in self.locations:
            if loc.modifier in ("~", "~*") and loc.matches(path):
                return loc
        return prefixes[0] if prefixes else None


_INHERITED = ("root", "index", "default_type", "ssl_certificate", "ssl_certificate_key", "ssl_client_certificate",
              "ssl_verify_client", "add_header")


def _settings(block: list[Directive], parent: dict) -> dict:
    out = dict(parent)
    headers = []
    for d in block:
        if d.name == "add_header" and len(d.args) >= 2:
            headers.append((d.args[0], d.args[1]))
        elif d.name in _INHERITED and d.args:
            out[d.name] = d.args if d.name == "index" else d.args[0]
    if headers:
        out["add_header"] = headers   # add_header at a level replaces the inherited ones, as in nginx
    return out


def _returns(block: list[Directive]) -> tuple[int, str] | None:
    for d in block:
        if d.name == "return" and d.args:
            if not d.args[0].isdigit():   # `return URL` is a 302
                return 302, d.args[0]
            return int(d.args[0]), d.args[1] if len(d.args) > 1 else ""
    return None


def _listen(d: Directive) -> Listen | None:
    address = d.args[0]
    if address.startswith("["):   # IPv6; the local pod has one IPv4 address, like a single-stack cluster
        return None
    port = address.rsplit(":", 1)[-1] if ":" in address else address
    if not port.isdigit():
        port = "80"   # `listen 127.0.0.1` means port 80
    return Listen(int(port), "ssl" in d.args[1:], "default_server" in d.args[1:] or "default" in d.args[1:])


def _mime_types(block: list[Directive]) -> dict[str, str]:
    types = {}
    for d in block:
        if d.name == "types" and d.block is not None:
            for entry in d.block:
                for ext in entry.args:
                    types[ext] = entry.name
    return types


@dataclass
class Config:
    servers: list[Server]
    mime_types: dict[str, str]


def load(read: Callable[[str], str | None], list_glob: Callable[[str], list[str]]) -> Config:
    """The http servers of /etc/nginx/nginx.conf, read through `read` (container paths)."""
    main = f"{CONF_PREFIX}/nginx.conf"
    text = read(main)
    if text is None:
        raise ConfError(f'open() "{main}" failed (2: No such file or directory)')
    top = _expand_includes(parse(text, main), read, list_glob)
    http = next((d for d in top if d.name == "http" and d.block is not None), None)
    if http is None:
        return Config([], {})
    http_settings = _settings(http.block or [], {"default_type": "text/plain", "root": "html",
                                                 "index": ["index.html"]})
    servers = []
    for d in http.block or []:
        if d.name != "server" or d.block is None:
            continue
        settings = _settings(d.block, http_settings)
        listens = [listen for x in d.block if x.name == "listen" and x.args for listen in [_listen(x)] if listen]
        if not any(x.name == "listen" for x in d.block):
            listens = [Listen(80, False, False)]
        names = [a for x in d.block if x.name == "server_name" for a in x.args]
        server = Server(listens, names, settings, returns=_returns(d.block))
        for loc in d.block:
            if loc.name != "location" or loc.block is None or not loc.args:
                continue
            modifier, uri = (loc.args[0], loc.args[1]) if len(loc.args) > 1 else ("", loc.args[0])
            server.locations.append(Location(modifier, uri, _settings(loc.block, settings), _returns(loc.block)))
        for listen in server.listens:
            if listen.ssl and not (settings.get("ssl_certificate") and settings.get("ssl_certificate_key")):
                raise ConfError(f'no "ssl_certificate" is defined for the "listen ... ssl" directive in {d.where}')
        servers.append(server)
    return Config(servers, _mime_types(http.block or []))
