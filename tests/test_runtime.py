"""The heap top pad is applied where glibc is, and only as asked."""

import platform
import sys

import pytest

from recsft import runtime

on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    monkeypatch.delenv(runtime.TOP_PAD_VARIABLE, raising=False)


@pytest.mark.skipif(not on_glibc, reason="glibc's mallopt only")
def test_the_pad_is_set_on_glibc():
    assert runtime.keep_heap_top() is True
    assert runtime.keep_heap_top(1 << 20) is True


def test_zero_or_glibcs_own_variable_leave_malloc_alone(monkeypatch):
    assert runtime.keep_heap_top(0) is False
    monkeypatch.setenv(runtime.TOP_PAD_VARIABLE, "0")
    assert runtime.keep_heap_top() is False
    monkeypatch.setenv(runtime.TOP_PAD_VARIABLE, "1048576")
    monkeypatch.setenv("MALLOC_TOP_PAD_", "65536")
    assert runtime.keep_heap_top() is False


def test_a_bad_variable_is_named(monkeypatch):
    monkeypatch.setenv(runtime.TOP_PAD_VARIABLE, "64MB")
    with pytest.raises(ValueError, match="RECSFT_MALLOC_TOP_PAD='64MB': expected a whole number"):
        runtime.keep_heap_top()
