"""The appliance's one configuration file, validated by a typed model.

Errors are reported as one line naming the file, the key and what was expected (`ConfigError`), so a
technician can fix a typo without reading a traceback. Secrets (broker password) never live in the
TOML: they come from the environment or from a credentials file readable only by the service user.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.config_depth import too_deep

DEFAULT_PATH = Path("/etc/borderpost/config.toml")
ENV_PATH = "BORDERPOST_CONFIG"
ENV_BROKER_USERNAME = "BORDERPOST_BROKER_USERNAME"
ENV_BROKER_PASSWORD = "BORDERPOST_BROKER_PASSWORD"


class ConfigError(Exception):
    """A configuration problem, already phrased for a person: `file: key: what was expected`."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Identity(_Model):
    post: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="border post id")
    device: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="this appliance's id")
    role: Literal["kiosk", "booth"] = "kiosk"
    signing_key: Path = Path("/var/lib/borderpost/device_ed25519.pem")


class Keys(_Model):
    """The agency's public keys: biometrics are encrypted to one, commands are signed by the other."""

    agency_encryption_public_key: Path | None = None   # X25519, PEM
    agency_command_public_key: Path | None = None      # Ed25519, PEM
    alert_list_public_key: Path | None = None          # Ed25519, PEM: signs alert lists (not the command key)


class Store(_Model):
    path: Path = Path("/var/lib/borderpost/borderpost.db")
    max_db_mb: int = Field(default=2048, ge=1)
    min_free_mb: int = Field(default=200, ge=0)
    delivered_retention_days: int = Field(default=30, ge=0)
    biometric_retention_days: int = Field(default=1, ge=0)


class Broker(_Model):
    url: str = "mqtt://127.0.0.1:1883"
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    credentials_file: Path | None = None  # "username:password" on one line, mode 0600
    topic_prefix: str = "borderpost/v1"
    keepalive: int = Field(default=30, ge=5, le=3600)
    inflight_window: int = Field(default=100, ge=1, le=10000)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    telemetry_interval_s: float = Field(default=60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        if parts.username or parts.password:
            raise ValueError("credentials do not belong in the URL: use credentials_file or the environment")
        try:
            port = parts.port
        except ValueError:   # urllib: "Port out of range 0-65535", or not a number
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise ValueError("the port must be a number from 1 to 65535")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("expected mqtt://HOST[:PORT] with nothing after the port")
        return v

    @field_validator("topic_prefix")
    @classmethod
    def _topic_prefix(cls, v: str) -> str:
        """A prefix is published under: MQTT forbids wildcards there, and empty levels make other topics."""
        if not v or any(c in v for c in "#+\0"):
            raise ValueError("must be non-empty with no '#', '+' or NUL (MQTT wildcards cannot be published to)")
        if v.startswith("/") or v.endswith("/") or "//" in v or v.startswith("$"):
            raise ValueError("levels separated by single '/', not starting with '/' or '$', not ending in '/'")
        if len(v.encode()) > 512:
            raise ValueError("longer than 512 bytes")
        return v

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)

    def credentials(self) -> tuple[str, str] | None:
        """Username and password from the environment, else from the credentials file, else none.

        Raises ConfigError (naming the file, never its content) when the file cannot be used.
        """
        user, pw = os.environ.get(ENV_BROKER_USERNAME), os.environ.get(ENV_BROKER_PASSWORD)
        if user:
            return user, pw or ""
        if self.credentials_file:
            f = self.credentials_file
            try:
                text = read_secret(f, "broker.credentials_file").decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ConfigError(f"{f}: broker.credentials_file: not UTF-8 text") from None
            user, sep, pw = text.partition(":")
            if not sep or not user or "\n" in text:
                raise ConfigError(f"{f}: broker.credentials_file: expected one line 'username:password'")
            return user, pw
        return None

    def check_files(self) -> None:
        """The TLS files and credentials can be read now (at start: a one-line error instead of endless retries)."""
        for key in ("ca_file", "cert_file", "key_file"):
            f = getattr(self, key)
            if f is None:
                continue
            try:
                with open(f, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(f"{f}: broker.{key}: cannot read it: {exc.strerror or exc}") from None
        self.credentials()


def read_secret(path: Path, key: str) -> bytes:
    """A secret file's bytes, refused (as ssh does) when its group or others may read or write it.

    The mode is checked on the open file, so it cannot be swapped between the check and the read.
    """
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if mode & 0o077:
                raise ConfigError(f"{path}: {key}: mode {mode & 0o777:04o} lets others read it; refused "
                                  f"(run: chmod 600 {path})")
            return f.read(65536)
    except OSError as exc:
        raise ConfigError(f"{path}: {key}: cannot read it: {exc.strerror or exc}") from None


class Device(_Model):
    """One device: which backend drives it and that backend's own settings (validated by the backend)."""

    model_config = ConfigDict(extra="allow")

    backend: str
    simulated: bool = False  # start the backend's device-side simulator and talk to it (demo, tests)
    enabled: bool = True

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class UI(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    languages: list[Literal["ar", "en", "fr"]] = ["ar", "en", "fr"]
    default_language: Literal["ar", "en", "fr"] = "en"
    # The kiosk's clocks: a step left this long hands the traveller back to the start (or to an officer);
    # the warning shows warn_before_s earlier. Each post tunes them to its travellers and its queue.
    language_timeout_s: float = Field(default=90.0, gt=0, le=3600)
    document_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    face_timeout_s: float = Field(default=45.0, gt=0, le=3600)
    fingers_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    result_screen_s: float = Field(default=30.0, gt=0, le=3600, description="the last screen, then the next traveller")
    warn_before_s: float = Field(default=15.0, ge=0, le=3600)
    retries: int = Field(default=2, ge=0, le=10, description="tries after the first, per capture step")
    face_attempt_s: float = Field(default=8.0, gt=0, le=120)
    finger_attempt_s: float = Field(default=10.0, gt=0, le=120)
    # Officers and technicians: sign-out when idle, lock-out after failed sign-ins.
    officer_idle_s: float = Field(default=300.0, gt=0, le=86400)
    officer_idle_warn_s: float = Field(default=60.0, ge=0, le=86400)
    max_failures: int = Field(default=5, ge=1, le=100)
    lockout_s: float = Field(default=300.0, ge=0, le=86400)
    queue_max_age_s: float = Field(default=12 * 3600, gt=0, description="an unopened kiosk hand-over is recorded "
                                                                        "as undecided after this")
    secure_cookies: bool = Field(default=False, description="set when the UIs are served over HTTPS")

    @model_validator(mode="after")
    def _warnings_before_limits(self) -> UI:
        shortest = min(self.language_timeout_s, self.document_timeout_s, self.face_timeout_s,
                       self.fingers_timeout_s, self.result_screen_s)
        if self.warn_before_s >= shortest:
            raise ValueError(f"warn_before_s ({self.warn_before_s:g}) must be shorter than every step's timeout "
                             f"(shortest {shortest:g})")
        if self.officer_idle_warn_s >= self.officer_idle_s:
            raise ValueError(f"officer_idle_warn_s ({self.officer_idle_warn_s:g}) must be shorter than "
                             f"officer_idle_s ({self.officer_idle_s:g})")
        return self


class Policy(_Model):
    """What the post asks of each traveller."""

    fingerprints: list[str] = []           # the finger sequence, e.g. EES: right_index, right_middle, right_ring,
    #                                        right_little; empty: none taken
    finger_fallback: bool = True            # a missing, injured or unusable finger: the other hand's same finger
    face_match_required: bool = True
    # The camera that images the document's data page on the reader: its printed portrait (checked against the
    # MRZ read) is the reference for the face match. None: no page camera (the face is not compared on a real
    # post). The face step then uses another camera.
    portrait_camera: str | None = None
    # The checks every crossing goes through, in order (edge.lane.checks ids, e.g. "document.validity",
    # "alerts.lists", "chip.authentication"). None: every check installed and configured on this appliance.
    checks: list[str] | None = None

    def check_portrait_camera(self, devices: dict[str, Device]) -> None:
        """The page camera is a configured, enabled camera and not the only one (the face step needs its own)."""
        name = self.portrait_camera
        if name is None:
            return
        key = "policy.portrait_camera"
        dev = devices.get(name)
        if dev is None:
            raise ValueError(f"{key}: no device {name!r} in [devices] (configured: {', '.join(devices) or 'none'})")
        if not dev.backend.startswith("camera"):
            raise ValueError(f"{key}: device {name!r} is a {dev.backend!r}, not a camera")
        if not dev.enabled:
            raise ValueError(f"{key}: device {name!r} is disabled")
        if not any(n != name and d.enabled and d.backend.startswith("camera") for n, d in devices.items()):
            raise ValueError(f"{key}: {name!r} is the only camera; the face step needs another one")


class Chip(_Model):
    """Passive authentication's trust anchors: CSCA certificates (PEM/DER) or ICAO master lists, and CRLs.

    Without them the chip's signatures and hashes are still checked, but not that a state issued them.
    """

    csca: list[Path] = []
    crl: list[Path] = []


class Alerts(_Model):
    """Alert lists (edge.alerts): past `stale_after_hours` since the agency issued the list, officers are warned
    (`warn`) or every traveller is handed to an officer (`hand_over`)."""

    stale_after_hours: float = Field(default=48.0, gt=0)
    stale_policy: Literal["warn", "hand_over"] = "warn"


class History(_Model):
    """Traveller history (edge.history): the permitted stay in days per nationality group; default_stay_days for
    a nationality in no group."""

    default_stay_days: int = Field(default=90, ge=1, le=36500)
    stay_days: dict[str, int] = {}           # group name -> days
    groups: dict[str, list[str]] = {}        # group name -> ICAO nationality codes

    @model_validator(mode="after")
    def _groups_have_days(self) -> History:
        for name in self.groups:
            if name not in self.stay_days:
                raise ValueError(f"groups.{name}: no stay_days.{name} for this group")
        return self


class Protection(_Model):
    """`[protection]` (edge.protection): the booth's screening checklist (empty: the built-in one), the partners a
    referral may go to ({code, name}), the protection recipient's X25519 public key, and the questions the kiosk
    asks every traveller (empty: purpose of travel and length of stay); validated by edge.protection."""

    recipient_public_key: Path | None = None
    partners: list[dict[str, str]] = []
    questions: list[dict[str, Any]] = []
    kiosk_questions: list[dict[str, Any]] = []


class Config(_Model):
    identity: Identity
    keys: Keys = Keys()
    store: Store = Store()
    broker: Broker = Broker()
    devices: dict[str, Device] = {}
    ui: UI = UI()
    policy: Policy = Policy()
    alerts: Alerts = Alerts()
    history: History = History()
    chip: Chip = Chip()
    protection: Protection = Protection()
    quality: dict[str, dict[str, float]] = {}   # per-modality threshold overrides, see edge.biometrics

    @model_validator(mode="after")
    def _devices(self) -> Config:
        from drivers import registry  # late: config must load even where a driver's module would not

        for name, dev in self.devices.items():
            if dev.backend not in registry.backend_names():
                raise ValueError(
                    f"devices.{name}.backend: unknown backend {dev.backend!r} "
                    f"(known: {', '.join(registry.backend_names())})"
                )
        self.policy.check_portrait_camera(self.devices)
        return self


def resolve_path(cli_path: str | os.PathLike[str] | None) -> Path:
    if cli_path is not None:
        return Path(cli_path)
    env = os.environ.get(ENV_PATH)
    return Path(env) if env else DEFAULT_PATH


USERINFO_PASSWORD = re.compile(r"(//[^/@:]*:)[^@/]*@")


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key"
    if kind == "missing":
        return f"{loc}: required key missing"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    if isinstance(got, str):
        got = USERINFO_PASSWORD.sub(r"\1***@", got)  # a password typed into a URL is not echoed to logs
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{loc}: {msg}{shown}" if loc else msg


MAX_DEPTH = 16   # tables and arrays within each other; the schema needs 4


def parse(text: str, source: str = "<config>", *, check_devices: bool = True) -> Config:
    """The config in TEXT, validated; each device's settings with its backend's own model (which imports the
    backend) unless CHECK_DEVICES is off, for a process that runs no device (the uplink)."""
    deep = too_deep(text, MAX_DEPTH)
    if deep is not None:
        raise ConfigError(f"{source}: {deep}: nested deeper than {MAX_DEPTH} levels")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:   # too_deep missed a way to nest: still one line
        raise ConfigError(f"{source}: nested too deeply") from None
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {'; '.join(_describe(e) for e in exc.errors())}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply") from None
    if check_devices:
        _check_device_settings(cfg, source)
    return cfg


def _check_device_settings(cfg: Config, source: str) -> None:
    from drivers import registry

    for name, dev in cfg.devices.items():
        try:
            registry.parse_settings(dev.backend, dev.settings)
        except registry.BackendUnavailable:
            continue  # reported by `doctor`; the config itself may be right for the target machine
        except ValidationError as exc:
            errs = []
            for e in exc.errors():
                e = dict(e)
                e["loc"] = ("devices", name, *e["loc"])
                errs.append(_describe(e))
            raise ConfigError(f"{source}: {'; '.join(errs)}") from None


def load(path: str | os.PathLike[str] | None = None, *, check_devices: bool = True) -> tuple[Config, Path]:
    """Load and validate the config (`--config`, else $BORDERPOST_CONFIG, else /etc/borderpost/config.toml);
    CHECK_DEVICES as in `parse`."""
    p = resolve_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found (give --config FILE or set {ENV_PATH}; "
                          f"create one with: borderpost config example > {p})") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL byte in the path
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{exc.__class__.__name__}: {exc}"
        raise ConfigError(f"{p}: cannot read config: {why}") from None
    return parse(text, str(p), check_devices=check_devices), p


def masked(cfg: Config) -> dict[str, Any]:
    """The effective config as plain data, with anything secret replaced."""
    data = cfg.model_dump(mode="json")
    creds = cfg.broker.credentials() if cfg.broker.credentials_file is None else None
    data["broker"]["credentials"] = (
        {"username": creds[0], "password": "***"} if creds else ("from file" if cfg.broker.credentials_file else None)
    )
    return data
