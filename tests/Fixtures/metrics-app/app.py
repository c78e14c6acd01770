"""A tiny application whose error rate depends on the deployed release, for the Prometheus fixture.

Usage: /usr/bin/python3 app.py PORT --release-file PATH

The release file holds one line (the release); a line containing 'bad' makes the release bad. It is read again on
every request, so writing the file "deploys" a release.

  /health   200 'ok' on a good release, 500 on a bad one
  /metrics  Prometheus text format: app_requests_total{code="200"|"500"} and the histogram
            app_request_duration_seconds. Every scrape first simulates 100 requests of the current release
            (good: 0 or 1 error and ~50 ms; bad: ~40 errors and ~800 ms), so the error ratio follows a release
            change within a few scrapes.
  /release  the release line
  /quit     stops the server (so does SIGTERM)
"""
import argparse
import random
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("--release-file", required=True)
args = parser.parse_args()

lock = threading.Lock()
requests = {"200": 0, "500": 0}
bucket_counts = [0] * len(BUCKETS)
duration_sum = 0.0
duration_count = 0


def read_release():
    try:
        with open(args.release_file, encoding="utf-8") as f:
            return f.readline().strip()
    except OSError:
        return ""


def simulate(bad):
    """Records 100 requests as the current release would serve them."""
    global duration_sum, duration_count
    errors = random.randint(35, 45) if bad else random.randint(0, 1)
    for i in range(100):
        seconds = max(0.005, random.gauss(0.8, 0.15) if bad else random.gauss(0.05, 0.01))
        requests["500" if i < errors else "200"] += 1
        duration_sum += seconds
        duration_count += 1
        for b, bound in enumerate(BUCKETS):
            if seconds <= bound:
                bucket_counts[b] += 1


def exposition(release):
    lines = [
        "# HELP app_requests_total Requests served, by HTTP status code.",
        "# TYPE app_requests_total counter",
    ]
    lines += [f'app_requests_total{{code="{code}"}} {count}' for code, count in requests.items()]
    lines += [
        "# HELP app_request_duration_seconds Request duration.",
        "# TYPE app_request_duration_seconds histogram",
    ]
    lines += [f'app_request_duration_seconds_bucket{{le="{bound}"}} {count}' for bound, count in zip(BUCKETS, bucket_counts)]
    lines += [
        f'app_request_duration_seconds_bucket{{le="+Inf"}} {duration_count}',
        f"app_request_duration_seconds_sum {duration_sum:.6f}",
        f"app_request_duration_seconds_count {duration_count}",
        "# HELP app_release_info The deployed release.",
        "# TYPE app_release_info gauge",
        'app_release_info{release="%s"} 1' % release.replace("\\", "\\\\").replace('"', '\\"'),
    ]
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        release = read_release()
        bad = "bad" in release
        path = self.path.split("?")[0]
        if path == "/health":
            self.reply(500 if bad else 200, "release is bad\n" if bad else "ok\n")
        elif path == "/metrics":
            with lock:
                simulate(bad)
                text = exposition(release)
            self.reply(200, text, "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/release":
            self.reply(200, release + "\n")
        elif path == "/quit":
            self.reply(200, "bye\n")
            threading.Thread(target=self.server.shutdown).start()
        else:
            self.reply(404, "not found\n")

    do_POST = do_GET

    def reply(self, status, body, content_type="text/plain; charset=utf-8"):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *arguments):
        pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    server.serve_forever(poll_interval=0.2)
finally:
    server.server_close()
