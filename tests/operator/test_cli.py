"""The admin CLI as an operator runs it: `relay tenants|keys|sessions|qr` against the running stack."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import segno

from tests.conftest import TenantHandle
from tests.sessions import events_of, wait_for_status
from tests.stack import RelayStack, free_port

CLI_TIMEOUT = 60


def relay_cli(*arguments: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`relay ...` in a clean environment: only the variables given (and PATH-like basics) are set."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    return subprocess.run(
        [sys.executable, "-P", "-m", "relay", *arguments],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def test_an_admin_creates_a_tenant_and_a_key_and_lists_them(stack: RelayStack, tmp_path: Path) -> None:
    env = {"RELAY_URL": stack.base_url, "RELAY_ADMIN_TOKEN": stack.admin_token}
    created = relay_cli("tenants", "create", "Initech CLI", cwd=tmp_path, **env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Created tenant ten_") and "(Initech CLI)" in created.stdout
    tenant_id = created.stdout.split()[2]

    listed = relay_cli("tenants", "list", cwd=tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["ID", "NAME", "CREATED_AT"]
    assert any(line.startswith(f"{tenant_id}  Initech CLI") for line in listed.stdout.splitlines())
    as_json = json.loads(relay_cli("tenants", "list", "--json", cwd=tmp_path, **env).stdout)
    assert {"id": tenant_id, "name": "Initech CLI"}.items() <= next(
        t for t in as_json if t["id"] == tenant_id
    ).items()

    key = relay_cli("keys", "create", "--tenant", tenant_id, "--name", "ops", cwd=tmp_path, **env)
    assert key.returncode == 0, key.stderr
    api_key = key.stdout.strip()  # alone on stdout, for KEY=$(relay keys create ...)
    assert api_key.startswith("rk_") and "shown once" in key.stderr
    own = httpx.get(f"{stack.base_url}/v1/sessions", headers={"Authorization": f"Bearer {api_key}"})
    assert own.status_code == 200 and own.json()["data"] == []


def test_the_token_comes_from_the_option_or_the_data_dirs_file(stack: RelayStack, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "admin_token").write_text(stack.admin_token + "\n")
    from_file = relay_cli(
        "tenants", "list", "--url", stack.base_url, cwd=tmp_path, RELAY_DATA_DIR=str(data_dir)
    )
    assert from_file.returncode == 0, from_file.stderr
    # `relay up`'s default data dir, ./.relay, read from the folder the command runs in.
    (tmp_path / ".relay").mkdir()
    (tmp_path / ".relay" / "admin_token").write_text(stack.admin_token)
    default_dir = relay_cli("tenants", "list", "--url", stack.base_url, cwd=tmp_path)
    assert default_dir.returncode == 0, default_dir.stderr
    option = relay_cli(
        "tenants", "list", "--token", stack.admin_token, cwd=tmp_path, RELAY_URL=stack.base_url
    )
    assert option.returncode == 0, option.stderr


def test_refusals_are_printed_from_the_problem_with_a_non_zero_exit(
    stack: RelayStack, tmp_path: Path
) -> None:
    env = {"RELAY_URL": stack.base_url, "RELAY_ADMIN_TOKEN": stack.admin_token}
    unknown = relay_cli("keys", "create", "--tenant", "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV", cwd=tmp_path, **env)
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.startswith("relay: 404 Not Found: tenant not found"), unknown.stderr

    invalid = relay_cli("tenants", "create", "", cwd=tmp_path, **env)
    assert invalid.returncode == 1
    assert invalid.stderr.startswith("relay: 422 Unprocessable"), invalid.stderr
    assert "\n  name: " in invalid.stderr

    wrong = relay_cli("tenants", "list", cwd=tmp_path, RELAY_URL=stack.base_url, RELAY_TOKEN="adm_wrong")
    assert wrong.returncode == 1 and "401 Unauthorized: missing or invalid bearer token" in wrong.stderr

    nobody = relay_cli(
        "tenants",
        "list",
        cwd=tmp_path,
        RELAY_URL=f"http://127.0.0.1:{free_port()}",
        **{"RELAY_TOKEN": "adm_x"},
    )
    assert nobody.returncode == 1 and "cannot reach Relay at http://127.0.0.1:" in nobody.stderr

    no_token = relay_cli("tenants", "list", cwd=tmp_path, RELAY_URL=stack.base_url)
    assert no_token.returncode == 1 and "no token: pass --token" in no_token.stderr
    assert not (tmp_path / ".relay").exists()  # a client creates nothing in the folder it runs in


async def test_sessions_are_listed_for_a_key_and_for_the_admin(
    stack: RelayStack, tenant: TenantHandle, tmp_path: Path
) -> None:
    created = await tenant.client.post(
        "/v1/sessions", json={"name": "cli-list", "engine": "sandbox", "start": False}
    )
    session_id = created.json()["id"]
    own = await asyncio.to_thread(
        relay_cli, "sessions", "list", cwd=tmp_path, RELAY_URL=stack.base_url, RELAY_TOKEN=tenant.api_key
    )
    assert own.returncode == 0, own.stderr
    assert own.stdout.splitlines()[0].split() == ["ID", "NAME", "ENGINE", "STATUS", "PHONE", "REASON"]
    assert any(
        line.split()[:4] == [session_id, "cli-list", "sandbox", "stopped"] for line in own.stdout.splitlines()
    )

    env = {"RELAY_URL": stack.base_url, "RELAY_ADMIN_TOKEN": stack.admin_token}
    one = await asyncio.to_thread(
        relay_cli, "sessions", "list", "--tenant", tenant.id, "--json", cwd=tmp_path, **env
    )
    assert [s["id"] for s in json.loads(one.stdout)] == [
        s["id"] for s in (await tenant.client.get("/v1/sessions")).json()["data"]
    ]
    everyone = await asyncio.to_thread(relay_cli, "sessions", "list", cwd=tmp_path, **env)
    assert everyone.returncode == 0, everyone.stderr
    assert everyone.stdout.splitlines()[0].split()[:2] == ["TENANT", "ID"]
    assert any(line.split()[:2] == [tenant.id, session_id] for line in everyone.stdout.splitlines())


def rendered(code: str) -> str:
    out = io.StringIO()
    segno.make_qr(code).terminal(out=out, compact=True)
    return out.getvalue()


async def test_relay_qr_prints_the_sessions_code_until_it_is_scanned(
    stack: RelayStack, tenant: TenantHandle, tmp_path: Path
) -> None:
    created = await tenant.client.post("/v1/sessions", json={"name": "cli-qr", "engine": "sandbox"})
    session_id = created.json()["id"]
    output = tmp_path / "qr.out"
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    with output.open("w") as handle:
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-P", "-m", "relay", "qr", session_id],
            *["--url", stack.base_url, "--timeout", "60"],
            env={**base, "RELAY_TOKEN": tenant.api_key},
            cwd=tmp_path,
            stdout=handle,
            stderr=asyncio.subprocess.PIPE,
        )
    try:
        deadline = time.monotonic() + 30
        # The sandbox shows a new code every second here (RELAY_SANDBOX_QR_INTERVAL=1): see two drawn.
        while output.read_text().count("This code expires at") < 2 and time.monotonic() < deadline:
            assert process.returncode is None, output.read_text()
            await asyncio.sleep(0.1)
        await wait_for_status(tenant.client, session_id, "qr")
        scanned = await tenant.client.post(
            f"/v1/sessions/{session_id}/sandbox/scan", json={"phone": "15550002222"}
        )
        assert scanned.status_code == 202
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    printed = output.read_text()
    assert printed.rstrip().endswith(f"Session {session_id} is connected as 15550002222.")
    # Every code printed is segno's terminal rendering of a code the session really showed.
    codes = [event["data"]["qr"] for event in await events_of(tenant.client, session_id, "session.qr")]
    shown = [code for code in codes if rendered(code) in printed]
    assert len(shown) >= 2, printed
    assert printed.count("Scan with WhatsApp") == len(shown)


async def test_relay_qr_of_a_stopped_session_says_so(
    stack: RelayStack, tenant: TenantHandle, tmp_path: Path
) -> None:
    created = await tenant.client.post(
        "/v1/sessions", json={"name": "idle", "engine": "sandbox", "start": False}
    )
    session_id = created.json()["id"]
    done = await asyncio.to_thread(
        relay_cli, "qr", session_id, cwd=tmp_path, RELAY_URL=stack.base_url, RELAY_TOKEN=tenant.api_key
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"relay: session {session_id} is stopped"), done.stderr
    other = await asyncio.to_thread(
        relay_cli,
        "qr",
        "ses_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        cwd=tmp_path,
        RELAY_URL=stack.base_url,
        RELAY_TOKEN=tenant.api_key,
    )
    assert other.returncode == 1 and other.stderr.startswith("relay: 404 Not Found"), other.stderr
    # The admin token reads no session: the refusal says which token to use.
    as_admin = await asyncio.to_thread(
        relay_cli,
        "qr",
        session_id,
        cwd=tmp_path,
        RELAY_URL=stack.base_url,
        RELAY_ADMIN_TOKEN=stack.admin_token,
    )
    assert as_admin.returncode == 1 and as_admin.stderr.startswith("relay: 403 Forbidden"), as_admin.stderr
    assert "pass its API key (--token or RELAY_TOKEN)" in as_admin.stderr
