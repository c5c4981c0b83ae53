"""The real `amct lsp` process with `initializationOptions: {"target": ...}`: it lints as `--target` does."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import ROOT, capabilities, open_document, server_config

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=server_config(), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities(), root_uri=ROOT.as_uri(), initialization_options={"target": "amct-9.1"}))
    yield
    await lsp_client.shutdown_session()


async def test_the_editor_target_is_used(client: LanguageClient, tmp_path: Path) -> None:
    text = "common_config {\n  arq_quantize { quant_bits: 4 }\n  ifmr_quantize { dst_type: INT16 }\n}\n"
    _, diagnostics = await open_document(client, tmp_path / "a8w4.cfg", text)
    # documented would give V002 and V013; amct-9.1 accepts both, with INT8 for the other types
    assert [(str(d.code), d.range.start.line) for d in diagnostics] == [("C011", 2)]
