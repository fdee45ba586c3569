"""maskgit.client.stream and the copy in docs/studio-api.md end every way a job can end."""
from concurrent.futures import CancelledError

import httpx
import pytest

from maskgit.client import stream
from test_demo_app import documented_stream


class StandInJob:
    """A finished gradio_client job: its updates, then what result() does."""

    def __init__(self, updates, error=None):
        self.updates, self.error = updates, error

    def outputs(self):
        return self.updates

    def done(self):
        return True

    def result(self, timeout=None):
        if self.error is not None:
            raise self.error
        return self.updates[-1]

    def cancel(self):
        return False


class SilentJob(StandInJob):
    def done(self):
        return False


@pytest.mark.parametrize("reader", [stream, documented_stream()], ids=["library", "docs"])
def test_a_stream_yields_every_update_then_ends_as_the_job_did(reader):
    assert list(reader(StandInJob(["a", "b"]))) == ["a", "b"]
    for broken in (CancelledError(), httpx.ReadError("Connection reset by peer"), httpx.ConnectError("refused")):
        seen = []
        with pytest.raises(ConnectionError, match="it may have stopped"):
            for update in reader(StandInJob(["a"], broken)):
                seen.append(update)
        assert seen == ["a"], type(broken).__name__
    with pytest.raises(ValueError, match="the server's own error"):
        list(reader(StandInJob([], ValueError("the server's own error"))))
    with pytest.raises(TimeoutError, match="no update from the studio for 0.05 s"):
        list(reader(SilentJob([]), idle_timeout=0.05, poll=0.01))
