#!/usr/bin/env python3
"""Observe llama-server's wire quirks directly, with raw sockets (standard library only).

  probe.py HOST PORT MODEL

Sends, over one keep-alive HTTP/1.1 connection, a streamed chat request and then (on the same
connection, if the server left it open) a second request, and a streamed completions request on
a fresh connection. Prints what it saw:

  - whether the server advertised keep-alive and then closed the connection after the streamed
    response (the quirk that makes a pooled connection stale);
  - the first chat chunk's delta (llama-server sends "content": null in it);
  - whether the completions stream carries usage on the chunk with finish_reason or in a chunk
    of its own.

It only reports; the pass/fail assertions are in check.py on llmload's own results. Exit code 0
unless the server could not be reached at all.
"""

import json
import socket
import sys
import time


def request_bytes(host, port, path, body):
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n")
    return head.encode() + data


def read_response(sock):
    """Read one HTTP/1.1 response (chunked or Content-Length). Returns (status, headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before headers")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        data = rest
        while True:
            while b"\r\n" not in data:
                more = sock.recv(65536)
                if not more:
                    raise ConnectionError("connection closed inside chunked body")
                data += more
            size_line, data = data.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(data) < size + 2:
                more = sock.recv(65536)
                if not more:
                    raise ConnectionError("connection closed inside chunk")
                data += more
            body += data[:size]
            data = data[size + 2:]
            if size == 0:
                break
    elif "content-length" in headers:
        n = int(headers["content-length"])
        body = rest
        while len(body) < n:
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("connection closed inside body")
            body += more
    else:  # read to close
        body = rest
        while True:
            more = sock.recv(65536)
            if not more:
                break
            body += more
    return status, headers, body


def closed_within(sock, seconds):
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def sse_events(body):
    out = []
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def main(argv):
    host, port, model = argv[1], int(argv[2]), argv[3]
    opts = {"include_usage": True}

    # 1. Streamed chat on a keep-alive connection.
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(request_bytes(host, port, "/v1/chat/completions", {
        "model": model, "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 4, "stream": True, "stream_options": opts}))
    status, headers, body = read_response(s)
    events = sse_events(body)
    conn_hdr = headers.get("connection", "(none)")
    closed = closed_within(s, 2.0)
    print(f"chat stream: HTTP {status}, Connection: {conn_hdr}, "
          f"keep-alive header: {headers.get('keep-alive', '(none)')}")
    print(f"  server closed the connection after the streamed response: {'yes' if closed else 'no'}")
    if not closed:
        # Reuse the connection for a second request to see whether it works.
        try:
            s.settimeout(60)
            s.sendall(request_bytes(host, port, "/v1/chat/completions", {
                "model": model, "messages": [{"role": "user", "content": "Say hi."}],
                "max_tokens": 2}))
            st2, _, _ = read_response(s)
            print(f"  second request on the same connection: HTTP {st2}")
        except (ConnectionError, OSError) as e:
            print(f"  second request on the same connection failed: {e}")
    s.close()
    first = next((e for e in events if isinstance(e, dict) and e.get("choices")), None)
    if first is not None:
        print(f"  first chunk delta: {json.dumps(first['choices'][0].get('delta'))}")
    usage_chunks = [e for e in events if isinstance(e, dict) and e.get("usage")]
    for e in usage_chunks:
        fr = [c.get("finish_reason") for c in e.get("choices", [])]
        print(f"  usage chunk: choices finish_reason {fr}, usage {json.dumps(e['usage'])}")
    print(f"  events: {len(events)}, ends with [DONE]: {bool(events) and events[-1] == '[DONE]'}")

    # 2. Streamed completions on a fresh connection.
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(request_bytes(host, port, "/v1/completions", {
        "model": model, "prompt": "Once upon a time", "max_tokens": 4, "stream": True,
        "stream_options": opts}))
    status, headers, body = read_response(s)
    closed = closed_within(s, 2.0)
    s.close()
    events = sse_events(body)
    print(f"completions stream: HTTP {status}, Connection: {headers.get('connection', '(none)')}, "
          f"closed after the response: {'yes' if closed else 'no'}")
    for e in events:
        if isinstance(e, dict) and e.get("usage"):
            fr = [c.get("finish_reason") for c in e.get("choices", [])]
            where = "on the finish_reason chunk" if any(fr) else "in a chunk of its own"
            print(f"  usage {where}: finish_reason {fr}, usage {json.dumps(e['usage'])}")
    print(f"  events: {len(events)}, ends with [DONE]: {bool(events) and events[-1] == '[DONE]'}")
    return 0


if __name__ == "__main__":
    t0 = time.time()
    try:
        rc = main(sys.argv)
    except (OSError, ConnectionError, ValueError) as e:
        print(f"probe failed: {e}", file=sys.stderr)
        rc = 1
    sys.exit(rc)
