#!/usr/bin/env python3
"""A small HTTP mirror for vmtest's end-to-end tests: serves a directory laid out like the
CentOS vault on 127.0.0.1, with what `python3 -m http.server` lacks.

- Range requests (`bytes=N-` and `bytes=N-M`), answered with 206 and Content-Range.
- --drop-once-after BYTES: the first GET of a file larger than BYTES sends the full
  Content-Length, then only BYTES bytes, and closes the connection (an interrupted
  download, once).
- --corrupt-prefix /corrupt/: paths under it serve the same file with one byte flipped in
  the middle (checksum files under it are served unchanged).
- --log FILE: one JSON line per request (path, range, status, bytes sent).
- --port-file FILE: the port it bound (it binds port 0, i.e. a free one), written once
  it accepts connections.

Usage: serve-vault.py ROOT --port-file FILE [--log FILE] [--drop-once-after N] [--corrupt-prefix P]
"""
import argparse
import http.server
import json
import os
import re
import threading


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log")
    parser.add_argument("--drop-once-after", type=int)
    parser.add_argument("--corrupt-prefix")
    args = parser.parse_args()
    root = os.path.realpath(args.root)
    lock = threading.Lock()
    state = {"dropped": False}

    def log(entry):
        if args.log:
            with lock, open(args.log, "a") as f:
                f.write(json.dumps(entry) + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *arguments):
            pass

        def do_HEAD(self):
            self.serve(head=True)

        def do_GET(self):
            self.serve(head=False)

        def serve(self, head):
            path = self.path.split("?", 1)[0]
            corrupt = False
            if args.corrupt_prefix and path.startswith(args.corrupt_prefix):
                path = "/" + path[len(args.corrupt_prefix):]
                corrupt = True
            # Symbolic links in the tree are followed (the tests link the fixture in);
            # ".." out of it is not.
            file = os.path.normpath(os.path.join(root, path.lstrip("/")))
            entry = {"path": self.path, "range": self.headers.get("Range")}
            if not file.startswith(root + os.sep) or not os.path.isfile(file):
                entry.update(status=404, sent=0)
                log(entry)
                self.send_error(404)
                return
            size = os.path.getsize(file)
            corrupt_at = size // 2 if corrupt and not file.endswith((".txt", "CHECKSUM")) else None
            start, end, status = 0, size - 1, 200
            requested = self.headers.get("Range")
            if requested:
                match = re.fullmatch(r"bytes=(\d+)-(\d*)", requested.strip())
                if not match or int(match.group(1)) >= size:
                    entry.update(status=416, sent=0)
                    log(entry)
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % size)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = int(match.group(1))
                if match.group(2):
                    end = min(int(match.group(2)), size - 1)
                status = 206
            length = end - start + 1
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
            self.end_headers()
            if head:
                entry.update(status=status, sent=0)
                log(entry)
                return
            limit = length
            with lock:
                if args.drop_once_after is not None and not state["dropped"] and length > args.drop_once_after:
                    state["dropped"] = True
                    limit = args.drop_once_after
            sent = 0
            with open(file, "rb") as f:
                f.seek(start)
                while sent < limit:
                    chunk = f.read(min(1 << 20, limit - sent))
                    if not chunk:
                        break
                    if corrupt_at is not None and start + sent <= corrupt_at < start + sent + len(chunk):
                        index = corrupt_at - start - sent
                        chunk = chunk[:index] + bytes([chunk[index] ^ 0xFF]) + chunk[index + 1:]
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    sent += len(chunk)
            entry.update(status=status, sent=sent, dropped=limit < length)
            log(entry)
            if limit < length:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    temporary = args.port_file + ".tmp"
    with open(temporary, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(temporary, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
