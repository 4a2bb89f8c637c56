"""Istio's tcp-echo-server (samples/tcp-echo/src/main.go): `main PORTS prefix`.

It listens on every comma-separated port of its first argument (not on the containerPorts, which
only document them) and answers each line with "<prefix> <line>". Without exactly two arguments it
prints its usage and exits 1, as the Go program does.
"""
from __future__ import annotations

import socketserver

from labkit.apps.common import command_line, log, pod_address, serve_until_terminated
from labkit.model.addressing import real_port


class _EchoHandler(socketserver.StreamRequestHandler):
    prefix = ""

    def handle(self) -> None:
        for line in iter(self.rfile.readline, b""):
            if not line.endswith(b"\n"):
                return  # ReadBytes('\n') returns io.EOF with a partial line: nothing is echoed
            log(f"request: {line.decode(errors='replace')}".rstrip("\n"))
            answer = f"{self.prefix} ".encode() + line
            log(f"response: {answer.decode(errors='replace')}".rstrip("\n"))
            self.wfile.write(answer)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    args = command_line([])
    if len(args) != 2:
        log("you should run it like: 'main [PORTS...] prefix' , please notice PORTS are comma-delineated , "
            "like  port 1[,port 2]  ")
        raise SystemExit(1)
    ports, prefix = args[0].split(","), args[1]
    handler = type("EchoHandler", (_EchoHandler,), {"prefix": prefix})
    servers = []
    for port in ports:
        servers.append(_Server((pod_address(), real_port(int(port))), handler))
    serve_until_terminated(servers, "\n".join(f"listening on [::]:{p}, prefix: {prefix}" for p in ports))


if __name__ == "__main__":
    main()
