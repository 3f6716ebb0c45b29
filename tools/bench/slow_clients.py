"""`scripts/bench-slow-clients`: strangers holding connections open, and what a legitimate sender sees meanwhile.

Serves the shipped crm-orders stream (infra/streams.py: 80 threads, token auth, 10 s read timeout) with a real
gunicorn against the BigQuery emulator, on this machine. Opens `--per-kind` connections of each kind, none with
the secret: one kind sends a partial header block and then a byte every `--dribble` seconds; the other sends
complete headers with a wrong token and a large Content-Length, then dribbles its body. Every connection the
server closes is opened again at once, for `--seconds`. Meanwhile one legitimate hit (curl, the right token)
every second. Prints connections held, reconnects, and the legitimate hits' answers and times; the last line
is one JSON object. Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from infra.streams import STREAMS
from service.model.service_env import BIGQUERY_EMULATOR_HOST, SECRETS, ServiceSpec, to_env
from service.runtime.bigquery_client import make_client
from tools.local.processes import Process, free_port, start_emulator, start_service
from tools.local.provision import provision

PROJECT = "hookstream-slow-clients"
TOKEN = "slow-clients-bench-token-0123456789abcdef"
KINDS = {
    "partial headers": b"POST /hooks/" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    "wrong-token body": (b"POST /hooks/not-the-token-0123456789abcdef HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 1000000\r\n\r\norderId="),
}


class Strangers:
    """Keeps `count` connections of one kind open, dribbling, reopening each one the server closes."""

    def __init__(self, port: int, opening: bytes, count: int, dribble_seconds: float) -> None:
        self.port, self.opening, self.dribble = port, opening, dribble_seconds
        self.sockets: list[socket.socket | None] = [None] * count
        self.opened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.setblocking(False)
            sock.send(self.opening)
        except OSError:
            return None
        self.opened += 1
        return sock

    def _run(self) -> None:
        while not self.stop.is_set():
            for index, sock in enumerate(self.sockets):
                still_open = sock is not None and self._dribble_on(sock)
                self.sockets[index] = sock if still_open else self._open()
            self.stop.wait(self.dribble)
        for sock in self.sockets:
            if sock is not None:
                sock.close()

    @staticmethod
    def _dribble_on(sock: socket.socket) -> bool:
        """One more byte, unless the server answered and closed: False (and closed here) then."""
        try:
            while sock.recv(65536):
                pass  # the server's answer; then EOF
        except BlockingIOError:
            with contextlib.suppress(OSError):
                sock.send(b"a")
            return True
        except OSError:
            pass
        sock.close()
        return False

    def held(self) -> int:
        return sum(sock is not None for sock in self.sockets)


def legitimate_hit(url: str, number: int) -> tuple[int, float]:
    started = time.monotonic()
    result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                             "-d", f"orderId=L{number}&status=paid", url], capture_output=True, text=True)
    status = int(result.stdout.strip() or 0) if result.stdout.strip().isdigit() else 0
    return status, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench-slow-clients", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--per-kind", type=int, default=160, help="connections of each kind (default 160: 2x "
                        "the shipped 80 threads)")
    parser.add_argument("--dribble", type=float, default=3.0, help="seconds between a stranger's bytes")
    args = parser.parse_args(argv)
    stream = next(stream for stream in STREAMS if stream.name == "crm-orders")
    root = Path(tempfile.mkdtemp(prefix="hookstream-slow-clients-"))
    started: list[Process] = []
    strangers: list[Strangers] = []
    try:
        emulator, emulator_url = start_emulator(root / "bq", PROJECT, free_port(), free_port(), root / "bq.log")
        started.append(emulator)
        provision(make_client(PROJECT, emulator_url), [stream], PROJECT)
        port = free_port()
        env = {**to_env(ServiceSpec.of(stream, PROJECT)), BIGQUERY_EMULATOR_HOST: emulator_url, SECRETS: TOKEN}
        started.append(start_service(stream.name, env, port, root / "service.log"))
        strangers = [Strangers(port, opening, args.per_kind, args.dribble) for opening in KINDS.values()]
        for group in strangers:
            group.thread.start()
        time.sleep(2.0)  # every stranger connected and sent its opening
        held_at_start = [group.held() for group in strangers]
        answers: list[tuple[int, float]] = []
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            answers.append(legitimate_hit(f"http://127.0.0.1:{port}/hooks/{TOKEN}", len(answers)))
            time.sleep(max(0.0, 1.0 - answers[-1][1]))
        held_at_end = [group.held() for group in strangers]
        sql = f"SELECT COUNT(*) AS n FROM `{PROJECT}.{stream.table_ref}`"
        rows = next(iter(make_client(PROJECT, emulator_url).query(sql, timeout=30).result(timeout=60)))["n"]
    finally:
        for group in strangers:
            group.stop.set()
        for group in strangers:
            group.thread.join(10)
        for process in reversed(started):
            process.stop()
    times = sorted(seconds for _, seconds in answers)
    figures: dict[str, Any] = {
        "threads": stream.run.concurrency, "seconds": args.seconds, "dribble_seconds": args.dribble,
        "strangers": {kind: {"held_at_start": start, "held_at_end": end_, "opened": group.opened}
                      for (kind, group), start, end_ in zip(zip(KINDS, strangers, strict=True), held_at_start,
                                                            held_at_end, strict=True)},
        "legitimate_hits": len(answers),
        "legitimate_2xx": sum(1 for status, _ in answers if 200 <= status < 300),
        "rows": rows,
        "legitimate_answer_s": {"p50": round(times[len(times) // 2], 3), "max": round(times[-1], 3)} if times else {},
    }
    for kind, numbers in figures["strangers"].items():
        print(f"{kind}: {numbers['held_at_start']} held at the start, {numbers['held_at_end']} at the end, "
              f"{numbers['opened']} connections opened in all")
    print(f"legitimate hits: {figures['legitimate_2xx']} of {figures['legitimate_hits']} answered 2xx; answer "
          f"time p50 {figures['legitimate_answer_s'].get('p50')} s, max {figures['legitimate_answer_s'].get('max')} s; "
          f"rows in the table: {rows}")
    print(json.dumps(figures))
    return 0 if answers and figures["legitimate_2xx"] == len(answers) == rows else 1


if __name__ == "__main__":
    sys.exit(main())
