"""moto's server, in a process of its own, whose Step Functions interpreter runs state machines and whose
Lambda service runs credsight's package: what the state machine test executes the collector's run on.

    python tests/lambda_on_moto.py PORT PACKAGE RUNTIME [BROKEN_BATCH]

Two pieces moto lacks, supplied here, each in the place moto leaves for it:

- JSONata. moto's interpreter (LocalStack's) evaluates JSONata through a JVM bridge that moto does not
  ship (`_eval_jsonata` is left unset); jsonata-python, a port of the same jsonata-java, takes its place.
- Running a function. moto runs Lambda code in Docker images this machine cannot pull, or, without
  Docker, echoes the payload. Here each invocation runs the package's handler as Lambda's Python runtime
  does: a process of its own from the unpacked package (`python -S`, the package first, then what the
  runtime provides), the function's environment variables, a context whose time left counts down from
  the function's timeout; an exception becomes Lambda's unhandled-error answer (X-Amz-Function-Error:
  Unhandled, a payload with errorType and errorMessage), which Step Functions turns into the task's error.

With BROKEN_BATCH, the invocation collecting that batch gets a store in a bucket that does not exist
(the fault: its handler raises, as one that cannot reach the store does). Nothing else is changed:
Organizations, STS, IAM and S3 are moto's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

# The handler's side: one invocation, the event on standard input, the answer as the last line.
INVOKE = """
import json, sys, time, traceback
sys.path[:0] = [sys.argv[1], sys.argv[2]]  # the package, then what the Lambda runtime provides
deadline = time.monotonic() + float(sys.argv[3])

class Context:
    def get_remaining_time_in_millis(self):
        return int((deadline - time.monotonic()) * 1000)

event = json.loads(sys.stdin.read() or "{}")
try:
    from credsight.deploy.lambda_handler import handler
    answer = {"result": handler(event, Context())}
except Exception as e:
    answer = {"error": {"errorType": type(e).__name__, "errorMessage": str(e),
                        "stackTrace": traceback.format_tb(e.__traceback__)}}
print(json.dumps(answer, default=str))
"""


def evaluate_jsonata(expression: str) -> Any:
    import jsonata

    result = jsonata.Jsonata(expression).evaluate(None)
    return json.loads(json.dumps(result))  # plain JSON values, as moto's JVM bridge hands back


def run_package(package: str, runtime: str, broken_batch: int | None) -> Any:
    """moto's simple Lambda backend's `invoke`, running the package instead of echoing the event."""

    def invoke(
        backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response: Any
    ) -> bytes:
        function = backend.get_function(function_name, qualifier)
        environment = {**os.environ, **(function.environment_vars or {})}
        timeout = float(function.timeout or 3)
        event = body if isinstance(body, str) else (body or b"{}").decode()
        parsed = json.loads(event or "{}")
        if broken_batch is not None and parsed.get("step") == "collect" and parsed.get("batch") == broken_batch:
            environment["CREDSIGHT_STORE"] = "s3://credsight-no-such-bucket/credsight"
        done = subprocess.run(
            [sys.executable, "-S", "-c", INVOKE, package, runtime, str(timeout)],
            input=event,
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout + 60,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            answer: dict[str, Any] = {"error": {"errorType": "Runtime.ExitError", "errorMessage": done.stderr[-2000:]}}
        else:
            answer = json.loads(lines[-1])
        if "error" in answer:
            response["x-amz-function-error"] = "Unhandled"
            return json.dumps(answer["error"]).encode()
        return json.dumps(answer["result"]).encode()

    return invoke


def main() -> None:
    port, package, runtime = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    broken_batch = int(sys.argv[4]) if len(sys.argv) > 4 else None
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    os.environ["MOTO_PORT"] = str(port)  # where the interpreter's own AWS calls (lambda:invoke) go
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["lambda"] = {"use_docker": False}
    moto_jsonata._eval_jsonata = evaluate_jsonata  # type: ignore[attr-defined]
    LambdaSimpleBackend.invoke = run_package(package, runtime, broken_batch)  # type: ignore[method-assign]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
