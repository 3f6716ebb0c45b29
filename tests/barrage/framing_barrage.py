"""Send framing cases (tests/barrage/framing.py) over raw sockets, then judge what the service did.

Judging needs three things the run cannot see by itself: the rows in the stream's table, the
service's log, and whether /health still answers. What a correct service does:
- no 5xx;
- every 2xx carries a hit_id that has exactly one row, whose payload is exactly what was sent;
- no row that does not belong to a 2xx answer to a case that may be stored ("rows from refused
  requests": refused, unanswered, hung-up and must-refuse requests alike);
- every valid hit (STORE) answered 2xx;
- the endpoint token in no log line; /health answers afterwards.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.barrage.framing import MARKER, Case, Ending, Expect

READ_TIMEOUT_SECONDS = 20.0
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    case: Case
    status: int | None  # None: no answer (the server closed, or the client hung up first)
    hit_id: str | None
    answer: bytes  # the start of the answer's body, for a report
    bytes_sent: int
    send_error: str | None = None  # the server closed or reset while the client was still sending
    timed_out: bool = False


def _read_answer(sock: socket.socket, head_request: bool) -> tuple[int | None, bytes, bool]:
    """(status, body, timed out) of the first final answer on `sock`; 1xx interim answers are skipped."""
    buffer = b""
    try:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    return None, buffer[:200], False
                buffer += data
            header_block, _, rest = buffer.partition(b"\r\n\r\n")
            lines = header_block.split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                return None, buffer[:200], False
            status = int(parts[1])
            if 100 <= status < 200:
                buffer = rest
                continue
            length = None
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
            if head_request:
                return status, b"", False
            while (length is None or len(rest) < length) and len(rest) < MAX_ANSWER_BYTES:
                data = sock.recv(65536)
                if not data:
                    break
                rest += data
            return status, rest[:length] if length is not None else rest, False
    except TimeoutError:
        return None, buffer[:200], True
    except OSError:
        return None, buffer[:200], False


def send_case(port: int, case: Case, timeout: float = READ_TIMEOUT_SECONDS, host: str = "127.0.0.1") -> Outcome:
    """Put the case's bytes on a new connection, end it as the case says, read the answer if it asks."""
    sent = 0
    send_error: str | None = None
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in case.pieces:
                sock.sendall(piece.data)
                sent += len(piece.data)
                if piece.pause_after:
                    time.sleep(piece.pause_after)
            if case.ending is Ending.HALF_CLOSE:
                sock.shutdown(socket.SHUT_WR)
        except OSError as error:  # e.g. a 431 and close while a huge header was still going out
            send_error = type(error).__name__
        if case.ending is Ending.CLOSE:
            return Outcome(case, None, None, b"", sent, send_error)
        status, body, timed_out = _read_answer(sock, head_request=case.wire.startswith(b"HEAD "))
    hit_id = None
    if status is not None and 200 <= status < 300:
        try:
            answer = json.loads(body)
            hit_id = answer.get("hit_id") if isinstance(answer, dict) else None
        except ValueError:
            hit_id = None
    return Outcome(case, status, hit_id if isinstance(hit_id, str) else None, body[:300], sent, send_error,
                   timed_out)


def send_cases(port: int, cases: Iterable[Case], concurrency: int = 4, deadline: float | None = None,
               progress: Any = None) -> list[Outcome]:
    """Send cases from `concurrency` connections at a time; after `deadline` (monotonic) none are started."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def one(case: Case) -> None:
        if deadline is not None and time.monotonic() > deadline:
            return
        outcome = send_case(port, case)
        with lock:
            outcomes.append(outcome)
            if progress is not None:
                progress(len(outcomes))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(one, case) for case in cases]:
            future.result()
    return sorted(outcomes, key=lambda outcome: outcome.case.number)


# -- judging --------------------------------------------------------------------------------------

@dataclass
class ClassFigures:
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    problems: int = 0


@dataclass
class Verdict:
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    no_answer: int = 0  # the server closed without answering (after the whole request or a half-close)
    hung_up: int = 0  # the client closed first, by design (early disconnects)
    timeouts: int = 0
    server_errors: int = 0  # 5xx
    acknowledged: int = 0  # 2xx with a hit_id
    acknowledged_must_refuse: int = 0  # 2xx to a request no correct server stores
    valid_not_acknowledged: int = 0  # a valid hit that got no 2xx
    lost_acknowledged: int = 0  # a 2xx hit_id without a row
    duplicate_rows: int = 0
    payload_mismatches: int = 0  # a row of an acknowledged hit whose payload is not what was sent
    rows_from_refused: int = 0  # rows that belong to no 2xx answer to a storable case
    rows: int = 0
    token_in_logs: int = 0  # log lines holding the endpoint token
    health_after: bool = False
    by_class: dict[str, ClassFigures] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    problems_by_class: dict[str, list[str]] = field(default_factory=dict)  # "" for the service as a whole
    token_log_lines: list[str] = field(default_factory=list)  # masked

    @property
    def passed(self) -> bool:
        return (self.server_errors == 0 and self.acknowledged_must_refuse == 0 and self.valid_not_acknowledged == 0
                and self.lost_acknowledged == 0 and self.duplicate_rows == 0 and self.payload_mismatches == 0
                and self.rows_from_refused == 0 and self.token_in_logs == 0 and self.health_after)

    def figures(self) -> dict[str, Any]:
        return {
            "cases": self.cases, "statuses": dict(sorted(self.statuses.items())), "no_answer": self.no_answer,
            "hung_up_by_client": self.hung_up, "timeouts": self.timeouts, "5xx": self.server_errors,
            "acknowledged": self.acknowledged, "acknowledged_must_refuse": self.acknowledged_must_refuse,
            "valid_not_acknowledged": self.valid_not_acknowledged, "lost_acknowledged": self.lost_acknowledged,
            "duplicate_rows": self.duplicate_rows, "payload_mismatches": self.payload_mismatches,
            "rows_from_refused": self.rows_from_refused, "rows": self.rows, "token_in_logs": self.token_in_logs,
            "health_after": self.health_after, "passed": self.passed,
        }

    def problem(self, outcome: Outcome | None, text: str) -> None:
        if outcome is not None:
            self.by_class[outcome.case.fault].problems += 1
        self.problems.append(text)
        self.problems_by_class.setdefault(outcome.case.fault if outcome is not None else "", []).append(text)


def status_label(outcome: Outcome) -> str:
    if outcome.status is not None:
        return str(outcome.status)
    if outcome.case.ending is Ending.CLOSE:
        return "hung_up"
    return "timeout" if outcome.timed_out else "no_answer"


def judge(outcomes: list[Outcome], rows: Sequence[tuple[str, str | None]], log_text: str, token: str,
          health_after: bool) -> Verdict:
    """The figures of a run, from what was sent and answered, the table's (hit_id, payload) rows and the log."""
    verdict = Verdict(cases=len(outcomes), rows=len(rows), health_after=health_after)
    storable: dict[str, Outcome] = {}  # hit_id -> the outcome whose 2xx may have a row
    for outcome in outcomes:
        case, label = outcome.case, status_label(outcome)
        figures = verdict.by_class.setdefault(case.fault, ClassFigures())
        figures.cases += 1
        figures.statuses[label] += 1
        verdict.statuses[label] += 1
        verdict.no_answer += label == "no_answer"
        verdict.hung_up += label == "hung_up"
        verdict.timeouts += outcome.timed_out
        where = case.describe(token)
        if outcome.status is not None and outcome.status >= 500:
            verdict.server_errors += 1
            verdict.problem(outcome, f"{outcome.status} answer: {where} -> {_masked(outcome.answer, token)}")
        acknowledged = outcome.status is not None and 200 <= outcome.status < 300
        if acknowledged and outcome.hit_id is None:
            verdict.problem(outcome, f"2xx without a hit_id: {where} -> {_masked(outcome.answer, token)}")
        if acknowledged and outcome.hit_id is not None:
            verdict.acknowledged += 1
            if case.expect is Expect.REFUSE:
                verdict.acknowledged_must_refuse += 1
                verdict.problem(outcome, f"answered {outcome.status} to a request that must be refused: {where}")
            else:
                storable[outcome.hit_id] = outcome
        if case.expect is Expect.STORE and not acknowledged:
            verdict.valid_not_acknowledged += 1
            verdict.problem(outcome, f"valid hit answered {label}: {where} -> {_masked(outcome.answer, token)}")

    seen: Counter[str] = Counter(hit_id for hit_id, _ in rows)
    for hit_id, acknowledged_outcome in storable.items():
        if seen[hit_id] == 0:
            verdict.lost_acknowledged += 1
            verdict.problem(acknowledged_outcome,
                            f"acknowledged hit {hit_id} has no row: {acknowledged_outcome.case.describe(token)}")
    for hit_id, count in seen.items():
        if count > 1:
            verdict.duplicate_rows += count - 1
            verdict.problem(storable.get(hit_id), f"hit {hit_id} has {count} rows")
    by_number = {outcome.case.number: outcome for outcome in outcomes}
    for hit_id, payload in rows:
        owner = storable.get(hit_id)
        if owner is None:
            verdict.rows_from_refused += 1
            found = MARKER.search(payload or "")
            source = by_number.get(int(found.group(1))) if found else _sent_in(outcomes, payload or "")
            origin = (f"{source.case.describe(token)} answered {status_label(source)}" if source is not None
                      else "no case's marker in its payload (a body cut inside it?)")
            verdict.problem(source, f"row {hit_id} belongs to no acknowledged storable request: {origin}; "
                                    f"stored payload {_masked((payload or '').encode(), token)}")
        elif payload != owner.case.payload:
            verdict.payload_mismatches += 1
            verdict.problem(owner, f"row {hit_id} payload differs from what was sent: {owner.case.describe(token)};"
                                   f" stored {(payload or '')[:120]!r}, sent {(owner.case.payload or '')[:120]!r}")

    leaking = [line for line in log_text.splitlines() if token in line]
    verdict.token_in_logs = len(leaking)
    verdict.token_log_lines = [line.replace(token, "<token>")[:300] for line in leaking]
    if leaking:
        verdict.problem(None, f"the endpoint token is in {len(leaking)} log line(s), e.g. {verdict.token_log_lines[0]}")
    if not health_after:
        verdict.problem(None, "the service did not answer GET /health after the barrage")
    return verdict


def _sent_in(outcomes: list[Outcome], payload: str) -> Outcome | None:
    """The case whose bytes hold a stored payload that lost its marker (a body cut short), if it is unique."""
    if len(payload) < 20:
        return None
    holders = [outcome for outcome in outcomes if payload.encode() in outcome.case.wire]
    return holders[0] if len(holders) == 1 else None


def _masked(data: bytes, token: str) -> str:
    return repr(data[:200])[2:-1].replace(token, "<token>")


def health_answers(port: int, timeout: float = 10.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            status, body, _ = _read_answer(sock, head_request=False)
    except OSError:
        return False
    return status == 200 and b'"ok"' in body


def table_rows(client: Any, table_id: str) -> list[tuple[str, str | None]]:
    """(hit_id, payload) of every row of the stream's table."""
    result = client.query(f"SELECT hit_id, payload FROM `{table_id}`", timeout=60).result(timeout=300)
    return [(str(row["hit_id"]), row["payload"]) for row in result]


def report(verdict: Verdict, per_class: int = 3) -> str:
    """The figures as a table: overall, then per fault class, then the first problems of each class."""
    lines = [f"{'figure':<28} value"]
    for name, value in verdict.figures().items():
        lines.append(f"{name:<28} {value}")
    lines.append("")
    lines.append(f"{'fault class':<34} {'cases':>6} {'problems':>8}  statuses")
    for name, figures in sorted(verdict.by_class.items()):
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(figures.statuses.items()))
        lines.append(f"{name:<34} {figures.cases:>6} {figures.problems:>8}  {statuses}")
    if verdict.problems:
        lines.append("")
        lines.append(f"problems ({len(verdict.problems)}; at most {per_class} per fault class):")
        for name, problems in sorted(verdict.problems_by_class.items()):
            lines.append(f" {name or 'the service'} ({len(problems)}):")
            lines.extend(f"  {problem}" for problem in problems[:per_class])
    if verdict.token_log_lines:
        lines.append("")
        lines.append(f"log lines holding the token ({len(verdict.token_log_lines)}; distinct messages):")
        lines.extend(f"  {line}" for line in sorted(set(map(_without_numbers, verdict.token_log_lines))))
    return "\n".join(lines)


def _without_numbers(line: str) -> str:
    # Log lines differ only by case markers and addresses; one of each kind is enough for a person.
    return re.sub(r"hs\d+hs", "hs<n>hs", line)
