"""Access keys: the `keys` CLI, encryption at rest, disable/delete."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from ferrymq.service.crypto import SecretBox
from ferrymq.service.db import ServiceDB
from ferrymq.service.keys import KeyStore


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferrymq.service.cli", *args], capture_output=True, text=True, timeout=30
    )


def test_keys_cli_create_list_disable_delete(tmp_path: Path) -> None:
    out = cli("keys", "create", "--data-dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    key_id, secret = created["accessKeyId"], created["secretAccessKey"]
    assert len(key_id) == 20 and key_id.startswith("AKIA") and key_id.isupper()
    assert len(secret) == 40

    store = KeyStore(ServiceDB(tmp_path), SecretBox.for_data_dir(tmp_path))
    assert store.secret_for(key_id) == secret

    listed = json.loads(cli("keys", "list", "--data-dir", str(tmp_path), "--json").stdout)
    assert [k["accessKeyId"] for k in listed] == [key_id]
    assert listed[0]["status"] == "Active" and secret not in json.dumps(listed)

    assert cli("keys", "disable", "--data-dir", str(tmp_path), key_id).returncode == 0
    assert store.secret_for(key_id) is None
    assert cli("keys", "enable", "--data-dir", str(tmp_path), key_id).returncode == 0
    assert store.secret_for(key_id) == secret
    assert cli("keys", "delete", "--data-dir", str(tmp_path), key_id).returncode == 0
    assert store.secret_for(key_id) is None
    assert cli("keys", "delete", "--data-dir", str(tmp_path), key_id).returncode == 1


def test_secret_is_encrypted_at_rest_and_master_key_private(tmp_path: Path) -> None:
    store = KeyStore(ServiceDB(tmp_path), SecretBox.for_data_dir(tmp_path))
    key_id, secret = store.create()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("service.db"))
    assert secret.encode() not in raw
    assert key_id.encode() in raw
    mode = stat.S_IMODE((tmp_path / "master.key").stat().st_mode)
    assert mode == 0o600
    # another master key cannot open it
    other = tmp_path / "other"
    store2 = KeyStore(ServiceDB(tmp_path), SecretBox.for_data_dir(other))
    try:
        store2.secret_for(key_id)
    except Exception as exc:  # cryptography's InvalidTag
        assert type(exc).__name__ == "InvalidTag"
    else:
        raise AssertionError("a different master key decrypted the secret")


def test_unknown_key_has_no_secret(tmp_path: Path) -> None:
    store = KeyStore(ServiceDB(tmp_path), SecretBox.for_data_dir(tmp_path))
    assert store.secret_for("AKIAUNKNOWNUNKNOWN00") is None
