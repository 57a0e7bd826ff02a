import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge import config as cfgmod

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = '[identity]\npost = "p1"\ndevice = "d1"\n'


def run(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_minimal_config_gets_defaults():
    cfg = cfgmod.parse(MINIMAL)
    assert cfg.identity.role == "kiosk" and cfg.store.path == Path("/var/lib/borderpost/borderpost.db")
    assert cfg.broker.port == 1883 and not cfg.broker.tls


@pytest.mark.parametrize("text, expected", [
    (MINIMAL + "[store]\npaht = 'x'\n", "store.paht: unknown key"),
    (MINIMAL + "colour = 1\n", "identity.colour: unknown key"),
    (MINIMAL + "[broker]\nkeepalive = 'often'\n", "broker.keepalive: Input should be a valid integer"),
    ('[identity]\npost = "p1"\n', "identity.device: required key missing"),
    (MINIMAL + "[broker]\nurl = 'http://x'\n", "broker.url: expected mqtt://HOST[:PORT]"),
    (MINIMAL + "[broker]\nurl = 'mqtt://u:pw@host'\n", "credentials do not belong in the URL"),
    (MINIMAL + "[devices.mrz]\nbackend = 'nope'\n", "devices.mrz.backend: unknown backend 'nope'"),
    ("[identity\n", "not valid TOML"),
    (MINIMAL + "[ui]\nface_timeout_s = 10\nwarn_before_s = 10\n",
     "ui: warn_before_s (10) must be shorter than every step's timeout (shortest 10)"),
    (MINIMAL + "[ui]\nofficer_idle_s = 30\n", "officer_idle_warn_s (60) must be shorter than officer_idle_s (30)"),
    (MINIMAL + "[ui]\nretries = -1\n", "ui.retries: Input should be greater than or equal to 0"),
    (MINIMAL.replace("kiosk", "x") + "role = 'gate'\n", "identity.role: Input should be 'kiosk' or 'booth'"),
])
def test_bad_config_is_one_line_naming_file_and_key(text, expected):
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.parse(text, "/etc/borderpost/config.toml")
    msg = str(e.value)
    assert msg.startswith("/etc/borderpost/config.toml: ") and expected in msg and "\n" not in msg


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_parse_never_raises_anything_but_config_error(text):
    with contextlib.suppress(cfgmod.ConfigError):
        cfgmod.parse(text)


def test_broker_credentials_come_from_environment_or_file(tmp_path, monkeypatch):
    cfg = cfgmod.parse(MINIMAL)
    monkeypatch.delenv(cfgmod.ENV_BROKER_USERNAME, raising=False)
    assert cfg.broker.credentials() is None
    creds = tmp_path / "creds"
    creds.write_text("dev:s3cret\n")
    creds.chmod(0o600)
    cfg = cfgmod.parse(MINIMAL + f"[broker]\ncredentials_file = '{creds}'\n")
    assert cfg.broker.credentials() == ("dev", "s3cret")
    monkeypatch.setenv(cfgmod.ENV_BROKER_USERNAME, "envuser")
    monkeypatch.setenv(cfgmod.ENV_BROKER_PASSWORD, "envpw")
    assert cfg.broker.credentials() == ("envuser", "envpw")
    masked = cfgmod.masked(cfgmod.parse(MINIMAL))
    assert masked["broker"]["credentials"] == {"username": "envuser", "password": "***"}
    assert "envpw" not in repr(masked)


def test_cli_config_example_passes_check():
    example = run("config", "example")
    assert example.returncode == 0 and "[identity]" in example.stdout
    check = run("config", "check", "-", stdin=example.stdout)
    assert check.returncode == 0, check.stderr
    assert (ROOT / "examples" / "config.toml").read_text() == example.stdout


def test_cli_config_check_unknown_key_exits_2_naming_it(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text(MINIMAL + "[broker]\nurl = 'mqtt://127.0.0.1'\nqos = 2\n")
    out = run("config", "check", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip() == f"borderpost: {bad}: broker.qos: unknown key"


@pytest.mark.parametrize("make", ["missing", "directory", "binary"])
def test_cli_unreadable_config_is_a_one_line_error(tmp_path, make):
    path = tmp_path / "c.toml"
    if make == "directory":
        path.mkdir()
    elif make == "binary":
        path.write_bytes(b"\xff\xfe\x00garbage")
    out = run("config", "check", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and str(path) in out.stderr


def test_config_path_from_environment(tmp_path):
    path = tmp_path / "env.toml"
    path.write_text(MINIMAL)
    out = run("config", "check", "--json", env={"BORDERPOST_CONFIG": str(path)})
    assert out.returncode == 0 and '"post": "p1"' in out.stdout


def test_cli_config_path_the_os_refuses_is_a_one_line_error(tmp_path):
    path = tmp_path / ("x" * 300)          # ENAMETOOLONG: neither missing nor a permission problem
    out = run("config", "check", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and "cannot read config" in out.stderr


@pytest.mark.parametrize("content", [None, "no-colon-here\n", b"\xff\xfe"])
def test_unusable_credentials_file_is_a_config_error_that_keeps_the_secret(tmp_path, monkeypatch, content):
    monkeypatch.delenv(cfgmod.ENV_BROKER_USERNAME, raising=False)
    creds = tmp_path / "creds"
    if isinstance(content, str):
        creds.write_text(content)
    elif content is not None:
        creds.write_bytes(content)
    if content is not None:
        creds.chmod(0o600)
    cfg = cfgmod.parse(MINIMAL + f"[broker]\ncredentials_file = '{creds}'\n")
    with pytest.raises(cfgmod.ConfigError) as e:
        cfg.broker.credentials()
    assert str(creds) in str(e.value) and "no-colon-here" not in str(e.value)


def test_a_password_put_in_the_broker_url_is_not_echoed_back(tmp_path):
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.parse(MINIMAL + "[broker]\nurl = 'mqtt://dev:s3cret@broker.example'\n", "c.toml")
    assert "credentials do not belong in the URL" in str(e.value) and "s3cret" not in str(e.value)
    bad = tmp_path / "c.toml"
    bad.write_text(MINIMAL)
    out = run("events", "stats", "--config", str(bad), "--store", str(tmp_path / "s.db"),
              "--broker", "mqtts://dev:s3cret@broker.example")
    assert out.returncode == 2 and "s3cret" not in out.stderr and "Traceback" not in out.stderr


def test_ui_settings_reach_the_kiosk_and_booth_clocks():
    """[ui] drives the kiosk's step timeouts and the officers' idle and lock-out rules; its defaults are the code's."""
    from edge.lane.options import Options

    assert Options.from_config(cfgmod.UI()) == Options()
    cfg = cfgmod.parse(MINIMAL + "[ui]\nface_timeout_s = 120\nretries = 4\nlockout_s = 900\nsecure_cookies = true\n")
    opts = Options.from_config(cfg.ui)
    assert opts.timing.face == 120 and opts.timing.document == 60 and opts.retries == 4
    assert opts.lockout_s == 900 and opts.secure_cookies


CAM = "[devices.{name}]\nbackend = 'camera_sim'\nsimulated = true\n"


@pytest.mark.parametrize("extra, expected", [
    (CAM.format(name="camera"), "policy.portrait_camera: no device 'page' in [devices] (configured: camera)"),
    ("", "policy.portrait_camera: no device 'page' in [devices] (configured: none)"),
    (CAM.format(name="camera") + "[devices.page]\nbackend = 'mrz_serial'\nport = 'simulated'\n",
     "policy.portrait_camera: device 'page' is a 'mrz_serial', not a camera"),
    (CAM.format(name="page"), "policy.portrait_camera: 'page' is the only camera; the face step needs another one"),
    (CAM.format(name="camera") + CAM.format(name="page") + "enabled = false\n",
     "policy.portrait_camera: device 'page' is disabled"),
])
def test_portrait_camera_must_name_another_configured_camera(extra, expected):
    text = MINIMAL + "[policy]\nportrait_camera = 'page'\n" + extra
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.parse(text, "/etc/borderpost/config.toml")
    msg = str(e.value)
    assert msg == f"/etc/borderpost/config.toml: {expected}", msg


def test_portrait_camera_names_the_page_camera():
    cfg = cfgmod.parse(MINIMAL + "[policy]\nportrait_camera = 'page'\n" + CAM.format(name="camera")
                       + CAM.format(name="page"))
    assert cfg.policy.portrait_camera == "page"
    assert cfgmod.parse(MINIMAL).policy.portrait_camera is None


# ---------------------------------------------------------------- issue 19 item 6: configs that passed, then failed
NESTED = 100_000


@pytest.mark.parametrize("text, key", [
    (MINIMAL + "[broker]\nurl = 'mqtt://127.0.0.1:99999'\n", "broker.url: the port must be a number from 1 to 65535"),
    (MINIMAL + "[broker]\nurl = 'mqtt://127.0.0.1:0'\n", "broker.url: the port must be"),
    (MINIMAL + "[broker]\nurl = 'mqtt://127.0.0.1:http'\n", "broker.url: the port must be"),
    (MINIMAL + "[broker]\ntopic_prefix = 'agency/#'\n", "broker.topic_prefix: must be non-empty with no '#', '+'"),
    (MINIMAL + "[broker]\ntopic_prefix = 'agency/+/v1'\n", "broker.topic_prefix: must be non-empty with no '#', '+'"),
    (MINIMAL + "[broker]\ntopic_prefix = '/agency'\n", "broker.topic_prefix: levels separated by single '/'"),
    (MINIMAL + "[broker]\ntopic_prefix = ''\n", "broker.topic_prefix: must be non-empty"),
    (MINIMAL + "x = " + "[" * NESTED + "]" * NESTED + "\n", "identity.x: nested deeper than 16 levels"),
    ("deep = " + "{a=" * NESTED + "1" + "}" * NESTED + "\n", "deep: nested deeper than 16 levels"),
    ("k" + ".a" * NESTED + " = 1\n", "k.a.a.…: nested deeper than 16 levels"),
    ("[t" + ".a" * NESTED + "]\n", "t.a.a.…: nested deeper than 16 levels"),
])
def test_config_check_refuses_what_would_fail_later_naming_the_key(tmp_path, text, key):
    """The uplink died on "Port out of range" (a restart loop), looped on a wildcard prefix, and a deep TOML
    was a RecursionError traceback: `config check` now exits 2 with one line naming the file and the key."""
    f = tmp_path / "config.toml"
    f.write_text(text)
    out = run("config", "check", str(f))
    assert out.returncode == 2, out.stdout[-300:]
    assert out.stderr.startswith(f"borderpost: {f}: {key}"), out.stderr[-300:]
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_valid_urls_and_prefixes_still_pass():
    for url in ("mqtt://127.0.0.1", "mqtts://broker.example:8883", "mqtt://[::1]:1883", "mqtt://h:65535/"):
        assert cfgmod.parse(MINIMAL + f"[broker]\nurl = '{url}'\n").broker.url == url
    for prefix in ("borderpost/v1", "agency-x/posts", "a"):
        assert cfgmod.parse(MINIMAL + f"[broker]\ntopic_prefix = '{prefix}'\n").broker.topic_prefix == prefix


def _nest(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "1" + "]" * depth
    return "{a=" * depth + "1" + "}" * depth


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(0, 30), kind=st.sampled_from(["array", "table"]), dotted=st.integers(1, 4),
       header=st.integers(0, 3), limit=st.integers(2, 20))
def test_depth_scan_agrees_with_the_parsed_depth(depth, kind, dotted, header, limit):
    """The scan that runs before tomllib measures the same depth as the parsed data (within the parser's reach)."""
    import tomllib

    from edge.config_depth import too_deep

    head = f"[{'.'.join(['t'] * header)}]\n" if header else ""
    text = f"{head}{'.'.join(['k'] * dotted)} = {_nest(depth, kind)}\n"

    def measured(v) -> int:
        if isinstance(v, dict):
            return 1 + max((measured(x) for x in v.values()), default=0)
        if isinstance(v, list):
            return 1 + max((measured(x) for x in v), default=0)
        return 0

    real = measured(tomllib.loads(text))   # the length of the path to the deepest value
    assert (too_deep(text, limit) is None) == (real <= limit), (text, real)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]{}=.,'\"#\n \\ak1")), max_size=300), st.integers(1, 20))
def test_depth_scan_never_fails_on_any_text(text, limit):
    from edge.config_depth import too_deep

    result = too_deep(text, limit)
    assert result is None or isinstance(result, str)


# ---------------------------------------------------------------- issue 19 item 8: secrets readable by others
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_credentials_file_others_can_read_is_refused_naming_file_and_mode(tmp_path, monkeypatch, mode):
    monkeypatch.delenv(cfgmod.ENV_BROKER_USERNAME, raising=False)
    creds = tmp_path / "creds"
    creds.write_text("dev:s3cret\n")
    creds.chmod(mode)
    cfg = cfgmod.parse(MINIMAL + f"[broker]\ncredentials_file = '{creds}'\n")
    with pytest.raises(cfgmod.ConfigError) as e:
        cfg.broker.credentials()
    msg = str(e.value)
    assert msg.startswith(f"{creds}: broker.credentials_file: mode {mode:04o}") and "chmod 600" in msg
    assert "s3cret" not in msg
    creds.chmod(0o600)
    assert cfg.broker.credentials() == ("dev", "s3cret")


def test_the_uplink_refuses_to_start_with_a_readable_credentials_file(tmp_path):
    creds = tmp_path / "creds"
    creds.write_text("dev:s3cret\n")
    creds.chmod(0o644)
    conf = tmp_path / "config.toml"
    conf.write_text(MINIMAL + f"signing_key = '{tmp_path}/k.pem'\n[store]\npath = '{tmp_path}/s.db'\n"
                    f"[broker]\ncredentials_file = '{creds}'\n")
    out = run("uplink", "--config", str(conf), env={cfgmod.ENV_BROKER_USERNAME: ""})
    assert out.returncode == 2 and "mode 0644" in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------- issue 17 item 6: no config yet
def test_a_missing_config_says_how_to_make_one(tmp_path):
    missing = tmp_path / "none.toml"
    for cmd in (("uplink",), ("station",), ("events", "purge")):
        out = run(*cmd, "--config", str(missing))
        assert out.returncode == 2 and "Traceback" not in out.stderr, (cmd, out.stderr)
        assert f"borderpost config example > {missing}" in out.stderr, (cmd, out.stderr)
