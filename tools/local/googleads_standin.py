"""A local stand-in for the Google Ads API's ConversionAdjustmentUploadService (gRPC), for scripts/dev and tests.

A real gRPC server: one generic handler for UploadConversionAdjustments that (de)serializes with the
`google-ads` client's own request and response messages, so the job's client talks to it unchanged over
an insecure channel (service/ads/retraction.py, `make_client("127.0.0.1:<port>")`). It records each request
(as JSON, plus whether a developer token came and the login-customer-id, never the token itself) and can be
told to answer RESOURCE_EXHAUSTED / UNAVAILABLE for the next n calls, or to refuse a transaction id's
adjustment as a partial failure (CONVERSION_NOT_FOUND in a GoogleAdsFailure, as Google does).

In a test: `GoogleAdsStandin(port)` in process. For scripts/dev, `python -m tools.local.googleads_standin
--port P` serves gRPC on P and, on P + 1, an HTTP side door: `GET /standin/requests`, `POST /standin/fail
{"code": "RESOURCE_EXHAUSTED", "times": 1}`, `POST /standin/reject {"transaction_id": "N1"}`, `GET /health`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc

from tools.local.json_http import answer
from tools.local.processes import Process, ensure_port_free, spawn, wait_http

METHOD = "/google.ads.googleads.v26.services.ConversionAdjustmentUploadService/UploadConversionAdjustments"
SERVICE, _, RPC = METHOD.strip("/").partition("/")


class GoogleAdsState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.failures: list[str] = []  # grpc.StatusCode names, answered in order
        self.rejected: set[str] = set()
        self.job_id = 0

    def fail_next(self, code: str = "RESOURCE_EXHAUSTED", times: int = 1) -> None:
        grpc.StatusCode[code]  # an unknown name fails here, not in the call
        with self.lock:
            self.failures += [code] * times

    def reject(self, transaction_id: str) -> None:
        with self.lock:
            self.rejected.add(transaction_id)

    def recorded(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)

    def upload(self, request: Any, context: grpc.ServicerContext) -> Any:
        from google.ads.googleads.v26.services.types.conversion_adjustment_upload_service import (
            ConversionAdjustmentResult,
            UploadConversionAdjustmentsRequest,
            UploadConversionAdjustmentsResponse,
        )

        headers = dict(context.invocation_metadata())
        with self.lock:
            failure = self.failures.pop(0) if self.failures else None
            self.requests.append({
                "status": failure or "OK", "developer_token_sent": bool(headers.get("developer-token")),
                "login_customer_id": headers.get("login-customer-id"),
                "body": json.loads(UploadConversionAdjustmentsRequest.to_json(request, use_integers_for_enums=False))})
            self.job_id += 1
            job_id = self.job_id
            rejected = set(self.rejected)
        if failure:
            context.abort(grpc.StatusCode[failure], f"stand-in told to answer {failure}")
        if not headers.get("developer-token"):  # what Google answers without one
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "The developer token is not valid.")
        refused = [index for index, adjustment in enumerate(request.conversion_adjustments)
                   if adjustment.order_id in rejected]
        response = UploadConversionAdjustmentsResponse(job_id=job_id)
        for index, adjustment in enumerate(request.conversion_adjustments):
            # A refused adjustment's result is empty, as Google answers in partial-failure mode.
            response.results.append(ConversionAdjustmentResult() if index in refused else ConversionAdjustmentResult(
                order_id=adjustment.order_id, conversion_action=adjustment.conversion_action,
                adjustment_date_time=adjustment.adjustment_date_time, adjustment_type=adjustment.adjustment_type))
        if refused:
            response.partial_failure_error = _partial_failure(refused)
        return response


def _partial_failure(indexes: list[int]) -> Any:
    from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
    from google.protobuf import any_pb2
    from google.rpc import status_pb2

    failure = GoogleAdsFailure(errors=[{
        "error_code": {"conversion_adjustment_upload_error": "CONVERSION_NOT_FOUND"},
        "message": "The conversion for this conversion action and conversion identifier can't be found.",
        "location": {"field_path_elements": [{"field_name": "conversion_adjustments", "index": index}]},
    } for index in indexes])
    detail = any_pb2.Any(type_url="type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                         value=GoogleAdsFailure.serialize(failure))
    return status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                             message=f"{len(indexes)} adjustment(s) failed", details=[detail])


def _handler(state: GoogleAdsState) -> grpc.GenericRpcHandler:
    from google.ads.googleads.v26.services.types.conversion_adjustment_upload_service import (
        UploadConversionAdjustmentsRequest,
        UploadConversionAdjustmentsResponse,
    )

    return grpc.method_handlers_generic_handler(SERVICE, {RPC: grpc.unary_unary_rpc_method_handler(
        state.upload, request_deserializer=UploadConversionAdjustmentsRequest.deserialize,
        response_serializer=UploadConversionAdjustmentsResponse.serialize)})


class GoogleAdsStandin:
    """The gRPC server, started; `address` is what the job's HOOKSTREAM_GOOGLE_ADS_ENDPOINT takes."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.state = GoogleAdsState()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((_handler(self.state),))
        self.address = f"{host}:{port}"
        self.server.add_insecure_port(self.address)
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)


def _control_handler(state: GoogleAdsState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            answer(self, code, body)

        def do_GET(self) -> None:
            if self.path == "/standin/requests":
                self._answer(200, {"requests": state.recorded()})
            elif self.path == "/health":
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": self.path})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}") if length else {}
            if self.path == "/standin/fail":
                state.fail_next(str(body.get("code", "RESOURCE_EXHAUSTED")), int(body.get("times", 1)))
                self._answer(200, {})
            elif self.path == "/standin/reject":
                state.reject(str(body["transaction_id"]))
                self._answer(200, {})
            else:
                self._answer(404, {"error": self.path})

    return Handler


def start_googleads_standin(port: int, log_path: Path) -> tuple[Process, str]:
    """The stand-in as a process of its own (scripts/dev): gRPC on `port`, its side door on `port` + 1."""
    ensure_port_free(port, "Google Ads API stand-in")
    ensure_port_free(port + 1, "Google Ads API stand-in (control)")
    process = spawn("google ads stand-in", [sys.executable, "-m", "tools.local.googleads_standin",
                                            "--port", str(port)], log_path, os.environ)
    wait_http(process, f"http://127.0.0.1:{port + 1}/health", timeout=30)
    return process, f"127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Google Ads API stand-in (docs/ads.md)")
    parser.add_argument("--port", type=int, default=9071)
    args = parser.parse_args()
    standin = GoogleAdsStandin(args.port)
    control = ThreadingHTTPServer(("127.0.0.1", args.port + 1), _control_handler(standin.state))
    print(f"Google Ads API stand-in on {standin.address} (gRPC), control on http://127.0.0.1:{args.port + 1}",
          flush=True)
    control.serve_forever()


if __name__ == "__main__":
    main()
