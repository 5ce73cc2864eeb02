#!/usr/bin/env python3
"""A recording proxy for the token-exactness run: forwards each POST to llama-server and
appends {"prompt": ..., "usage_prompt_tokens": ...} to a JSONL file, so check.py can count
every prompt llmload sent with llama-server's own /tokenize endpoint. Standard library only;
non-streamed requests only; listens on 127.0.0.1.

    capture.py PORT UPSTREAM_BASE OUT.jsonl
"""

import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def main(argv):
    port, upstream, out_path = int(argv[1]), argv[2].rstrip("/"), argv[3]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            req = urllib.request.Request(
                upstream + self.path, data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    status, data = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, data = e.code, e.read()
            try:
                prompt = json.loads(body).get("prompt")
                usage = json.loads(data).get("usage", {}).get("prompt_tokens")
            except ValueError:
                prompt, usage = None, None
            with lock, open(out_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"prompt": prompt, "usage_prompt_tokens": usage}) + "\n")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv)
