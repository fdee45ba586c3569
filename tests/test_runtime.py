import ctypes
import platform
import subprocess
import sys
import textwrap

import pytest

from maskgit import runtime

ROOT = __file__.rsplit("/tests/", 1)[0]

# Run in a child process: the setting is process-wide and must not leak into the test run.
CHILD = textwrap.dedent("""
    import ctypes, torch
    from maskgit.runtime import reuse_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                    "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2

    def mapped_bytes_while_holding_100mb():
        x = torch.ones(25_000_000)
        return libc.mallinfo2().hblkhd

    weight = torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    image = torch.randn(2, 3, 300, 300, generator=torch.Generator().manual_seed(0))
    before_out = torch.nn.functional.conv2d(image, weight)
    before = mapped_bytes_while_holding_100mb()
    applied = reuse_freed_memory()
    after = mapped_bytes_while_holding_100mb()
    print(applied, before // 2**20, after // 2**20, torch.equal(before_out, torch.nn.functional.conv2d(image, weight)))
""")


def has_mallinfo2():
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")  # glibc >= 2.33
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc" or not has_mallinfo2(),
                    reason="glibc >= 2.33 only")
def test_large_tensors_come_from_the_reused_heap_and_results_are_unchanged():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT, check=True)
    applied, mapped_before, mapped_after, same = out.stdout.split()
    assert applied == "True" and same == "True"
    assert int(mapped_before) >= 95  # glibc's default: a 100 MB tensor gets fresh mapped pages
    assert int(mapped_after) < 50  # after: taken from the heap, whose freed pages are kept


def test_other_platforms_are_left_alone(monkeypatch):
    monkeypatch.setattr(runtime.sys, "platform", "darwin")
    assert runtime.reuse_freed_memory() is False
