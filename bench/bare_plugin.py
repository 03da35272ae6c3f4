"""The least a pytest run of a verifier needs: the reference as `impl`, device "cpu".
Used by bench.py to measure drill's grading overhead against a bare pytest run."""

import importlib.util
import os

import pytest


@pytest.fixture(scope="session")
def impl():
    spec = importlib.util.spec_from_file_location("bare_impl", os.environ["BARE_IMPL"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", ["cpu"])
