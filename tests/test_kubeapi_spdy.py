"""SPDY/3.1 framing units; the end-to-end proof is the real kubectl's port-forward (test_kubeapi_kubectl_more)."""
from __future__ import annotations

import struct
import zlib

from labkit.kubeapi.spdy import (DICTIONARY, DICTIONARY_ADLER32, FLAG_FIN, PING, SYN_REPLY, SYN_STREAM, Framer)


def syn_stream(compressor, stream_id: int, headers: dict[str, str]) -> bytes:
    raw = struct.pack("!I", len(headers)) + b"".join(
        struct.pack("!I", len(k)) + k.encode() + struct.pack("!I", len(v)) + v.encode() for k, v in headers.items())
    block = compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return Framer.control(SYN_STREAM, 0, struct.pack("!IIH", stream_id, 0, 0) + block)


def test_the_dictionary_is_the_specs():
    assert len(DICTIONARY) == 1423 and zlib.adler32(DICTIONARY) == DICTIONARY_ADLER32


def test_frames_split_anywhere_are_reassembled_and_headers_decompressed():
    client = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
    wire = (syn_stream(client, 1, {"streamtype": "error", "port": "8080", "requestid": "0"})
            + syn_stream(client, 3, {"streamtype": "data", "port": "8080", "requestid": "0"})
            + Framer.data(3, b"GET / HTTP/1.1\r\n\r\n", fin=True) + Framer.control(PING, 0, struct.pack("!I", 1)))
    server = Framer()
    frames = []
    for index in range(0, len(wire), 3):   # as Go writes them: a few bytes per WebSocket message
        frames += server.feed(wire[index:index + 3])
    assert [(f.kind, f.stream_id) for f in frames] == [(SYN_STREAM, 1), (SYN_STREAM, 3), (None, 3), (PING, 1)]
    assert frames[1].headers == {"streamtype": "data", "port": "8080", "requestid": "0"}
    assert frames[2].payload == b"GET / HTTP/1.1\r\n\r\n" and frames[2].flags == FLAG_FIN
    reply = server.syn_reply(3)
    parsed = Framer()
    parsed.inflate = zlib.decompressobj(zdict=DICTIONARY)
    (frame,) = parsed.feed(reply)
    assert frame.kind == SYN_REPLY and frame.stream_id == 3 and frame.headers == {}
