"""Reading a studio's streamed runs through gradio_client with a deadline: a plain loop over a
job waits forever when the studio stops mid-run."""
import time
from concurrent.futures import CancelledError

try:  # gradio_client's transport; the library alone does not need it
    from httpx import TransportError
    BROKEN = (CancelledError, TransportError)
except ImportError:
    BROKEN = (CancelledError,)


def stream(job, idle_timeout=30.0, poll=0.02):
    """Yield a gradio_client job's streamed updates as they arrive. Raises TimeoutError when
    none arrives for idle_timeout seconds (a server that died mid-stream may never end the job),
    ConnectionError when the client gave the job up, and the server's error when the job
    failed. (docs/studio-api.md shows the same code, to copy where this package is not installed.)"""
    seen, last = 0, time.monotonic()
    while True:
        outputs = job.outputs()
        for update in outputs[seen:]:
            yield update
        if len(outputs) > seen:
            seen, last = len(outputs), time.monotonic()
        if job.done():
            for update in job.outputs()[seen:]:
                yield update
            try:
                job.result()  # raises the server's error, if any
            except BROKEN:  # the connection broke, or a result file's download did
                raise ConnectionError("the studio ended the stream: it may have stopped") from None
            return
        if time.monotonic() - last > idle_timeout:
            job.cancel()
            raise TimeoutError(f"no update from the studio for {idle_timeout:g} s: it may have stopped")
        time.sleep(poll)
