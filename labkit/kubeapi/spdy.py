"""SPDY/3.1 framing, the server side of what `kubectl port-forward` speaks (draft-mbelshe-httpbis-spdy-00,
as implemented by github.com/moby/spdystream, which client-go and the kubelet use).

Frames: a control frame is `1 | version(15) | type(16) | flags(8) | length(24) | data`, a data frame
`0 | stream id(31) | flags(8) | length(24) | data`. Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are
`count(32)` then `len(32) name len(32) value` pairs, zlib-compressed with one stream per direction
per connection, primed with the SPDY/3 dictionary (section 2.6.10.1).
"""
from __future__ import annotations

import struct
import zlib

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_CANCEL = 5

# The SPDY/3 header compression dictionary: these words, each as a 32-bit length and the word, then the
# status codes, phrases and common values as one plain string (spec section 2.6.10.1).
_WORDS = (
    "options|head|post|put|delete|trace|accept|accept-charset|accept-encoding|accept-language|"
    "accept-ranges|age|allow|authorization|cache-control|connection|content-base|content-encoding|"
    "content-language|content-length|content-location|content-md5|content-range|content-type|date|"
    "etag|expect|expires|from|host|if-match|if-modified-since|if-none-match|if-range|"
    "if-unmodified-since|last-modified|location|max-forwards|pragma|proxy-authenticate|"
    "proxy-authorization|range|referer|retry-after|server|te|trailer|transfer-encoding|upgrade|"
    "user-agent|vary|via|warning|www-authenticate|method|get|status|200 OK|version|HTTP/1.1|url|"
    "public|set-cookie|keep-alive|origin")
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def _dictionary() -> bytes:
    words = _WORDS.split("|")
    return b"".join(struct.pack("!I", len(w)) + w.encode() for w in words) + _TAIL.encode()


DICTIONARY = _dictionary()
DICTIONARY_ADLER32 = 3821447106   # zlib.adler32 of the spec's dictionary: a typo above breaks every header block


class Frame:
    """One parsed frame: control frames have `kind` (SYN_STREAM, ...), data frames `kind` None."""

    def __init__(self, kind: int | None, flags: int, stream_id: int, payload: bytes,
                 headers: dict[str, str] | None = None):
        self.kind, self.flags, self.stream_id, self.payload, self.headers = kind, flags, stream_id, payload, headers

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class Framer:
    """Reads frames from a byte stream and writes frames as bytes; keeps the two header zlib streams."""

    def __init__(self):
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self.buffer = b""

    def feed(self, data: bytes) -> list[Frame]:
        """The complete frames in what has arrived so far (a frame may span websocket messages)."""
        self.buffer += data
        frames = []
        while len(self.buffer) >= 8:
            length = int.from_bytes(self.buffer[5:8], "big")
            if len(self.buffer) < 8 + length:
                break
            head, payload, self.buffer = self.buffer[:8], self.buffer[8:8 + length], self.buffer[8 + length:]
            frames.append(self._parse(head, payload))
        return frames

    def _parse(self, head: bytes, payload: bytes) -> Frame:
        flags = head[4]
        if not head[0] & 0x80:
            return Frame(None, flags, int.from_bytes(head[:4], "big") & 0x7FFFFFFF, payload)
        kind = int.from_bytes(head[2:4], "big")
        stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF if len(payload) >= 4 else 0
        headers = None
        if kind == SYN_STREAM:
            headers = self._headers(payload[10:])
        elif kind in (SYN_REPLY, HEADERS):
            headers = self._headers(payload[4:])
        return Frame(kind, flags, stream_id, payload, headers)

    def _headers(self, block: bytes) -> dict[str, str]:
        raw = self.inflate.decompress(block)
        count, offset, out = struct.unpack("!I", raw[:4])[0], 4, {}
        for _ in range(count):
            size = struct.unpack("!I", raw[offset:offset + 4])[0]
            name = raw[offset + 4:offset + 4 + size].decode()
            offset += 4 + size
            size = struct.unpack("!I", raw[offset:offset + 4])[0]
            out[name] = raw[offset + 4:offset + 4 + size].decode()
            offset += 4 + size
        return out

    # -- writing ----------------------------------------------------------------------------------
    @staticmethod
    def control(kind: int, flags: int, data: bytes) -> bytes:
        return struct.pack("!HHI", 0x8000 | VERSION, kind, (flags << 24) | len(data)) + data

    @staticmethod
    def data(stream_id: int, data: bytes, fin: bool = False) -> bytes:
        return struct.pack("!II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None) -> bytes:
        pairs = headers or {}
        raw = struct.pack("!I", len(pairs)) + b"".join(
            struct.pack("!I", len(k)) + k.encode() + struct.pack("!I", len(v)) + v.encode() for k, v in pairs.items())
        block = self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        return self.control(SYN_REPLY, 0, struct.pack("!I", stream_id) + block)

    def rst(self, stream_id: int, status: int = RST_CANCEL) -> bytes:
        return self.control(RST_STREAM, 0, struct.pack("!II", stream_id, status))

    def ping_reply(self, frame: Frame) -> bytes:
        return self.control(PING, 0, frame.payload)

    def goaway(self, last_stream: int = 0) -> bytes:
        return self.control(GOAWAY, 0, struct.pack("!II", last_stream, 0))
