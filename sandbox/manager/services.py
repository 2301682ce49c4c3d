"""The local stand-ins for AWS: influxd, mosquitto, moto's server, the IoT endpoint, MariaDB and the RDS Data API,
on 127.0.0.1 and free ports."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlparse

from pydantic import ValidationError
from sql_setup.constants import DATABASE as SQL_DATABASE
from sql_setup.constants import ROLES as SQL_ROLES

from catalog import load_catalog
from catalog.export import downsampled
from catalog.loader import PROJECT_ROOT
from infrastructure.stacks import influxdb
from local_aws.iot.access import ACCESS_FILE, sync
from local_aws.iot.broker_users import write_password_file
from local_aws.iot.ca import LocalCa
from local_aws.limits import MQTT_MAX_PACKET_BYTES
from reach.endpoints import (
    AwsEndpoint,
    Endpoints,
    InfluxEndpoint,
    InfluxUser,
    InfluxUsers,
    Login,
    MqttEndpoint,
    SqlEndpoint,
    endpoints_file,
)
from sandbox.manager import processes
from sandbox.manager.processes import SandboxError

HOST = "127.0.0.1"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
DATABASE = influxdb.DATABASE  # the stacks' database, which the functions write
SERVICE_NAMES = ("influxdb", "mosquitto", "moto", "iot-gateway", "mariadb", "rds-data")
MQTT_USER = "sandbox"  # every local MQTT client on the plain listener: rule runner, local simulator, tests
GATEWAY_USER = "iot-gateway"  # the mutual-TLS endpoint's own login on the plain listener
PORTS = (
    "influxdb",
    "influxdb_rpc",
    "mosquitto",
    "moto",
    "mqtts",
    "mariadb",
    "rds_data",
)  # kept across restarts
# The SQL sink's users (their secrets' passwords: sql_setup's rule, letters, digits, '-' and '_' only).
SQL_USERS = {role: f"sql_{role}" for role in SQL_ROLES}
USERS = (
    "admin",
    "writer",
    "reader",
    MQTT_USER,
    GATEWAY_USER,
    *SQL_USERS.values(),
)  # a generated password each
# The ports a service listens on, where they are not named as the service.
SERVICE_PORTS = {
    "influxdb": ("influxdb", "influxdb_rpc"),
    "iot-gateway": ("mqtts",),
    "rds-data": ("rds_data",),
}
# The Aurora cluster the local RDS Data API answers for (the functions' SQL_RESOURCE_ARN in the sandbox).
SQL_CLUSTER_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT_ID}:cluster:sandbox-sql"
MARIADB_DATA = "mariadb"  # its data directory under the sandbox's root
INFLUX_INIT_SCRIPT = PROJECT_ROOT / "services" / "influxdb" / "init-influxdb.sh"
INSTALL_HINT = (
    "run 'make install' (Debian/Ubuntu: apt-get install influxdb influxdb-client mosquitto mariadb-server; "
    "macOS: brew install influxdb@1 mosquitto mariadb)"
)


class _State(TypedDict):
    ports: dict[str, int]
    passwords: dict[str, str]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int | None

    @property
    def running(self) -> bool:
        return self.pid is not None


def _http_status(url: str, ca_file: Path | None = None) -> int | None:
    """The status `url` answers; over HTTPS only a server whose certificate `ca_file` signed counts."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    try:
        with urllib.request.urlopen(url, timeout=1, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return None


# Where Debian keeps daemons (mariadbd), not always on a user's PATH.
SYSTEM_BINARIES = ("/usr/sbin", "/usr/local/sbin")


def _require_binary(name: str, also_in: tuple[str, ...] = ()) -> str:
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(also_in))
    if path is None:
        raise SandboxError(f"'{name}' is not installed: {INSTALL_HINT}")
    return path


def _influx_version(binary: str) -> tuple[int, int]:
    """(major, minor) of `influxd version` ("InfluxDB v1.6.7~rc0 (git: ...)"); (0, 0) when unreadable."""
    result = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10, check=False)
    match = re.search(r"v(\d+)\.(\d+)", result.stdout)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _influx_debug_settings(binary: str) -> str:
    """The [http] lines that close the /debug endpoints to anyone without the admin's credentials.

    From 1.8 on, `pprof-auth-enabled` puts /debug/pprof, /debug/vars and /debug/requests behind an admin login
    (it needs `pprof-enabled`); without it /debug/vars and /debug/requests answer anyone whatever pprof-enabled
    says. Earlier releases (Debian's 1.6.7) know only `pprof-enabled`, which turns /debug/pprof off; their
    /debug/vars and /debug/requests cannot be closed (statistics and request counts, no data; the sandbox's
    influxd listens on 127.0.0.1 only). services/influxdb/task.yaml sets the same for the ECS task.
    """
    if _influx_version(binary) >= (1, 8):
        return "  pprof-enabled = true\n  pprof-auth-enabled = true\n  debug-pprof-enabled = false\n"
    return "  pprof-enabled = false\n"


def run_influxdb_init(endpoints: Endpoints) -> subprocess.CompletedProcess[str]:
    """Run services/influxdb/init-influxdb.sh against the sandbox's influxd, with the env contract of the task."""
    influx = endpoints.influxdb
    url, users = urlparse(influx.url), influx.users
    env = {
        **os.environ,
        "INFLUXDB_HOST": url.hostname or HOST,
        "INFLUXDB_PORT": str(url.port),
        "INFLUXDB_DB": influx.database,
        "INFLUXDB_ADMIN_USER": users.admin.username,
        "INFLUXDB_ADMIN_PASSWORD": users.admin.password,
        "INFLUXDB_WRITE_USER": users.writer.username,
        "INFLUXDB_WRITE_USER_PASSWORD": users.writer.password,
        "INFLUXDB_READ_USER": users.reader.username,
        "INFLUXDB_READ_USER_PASSWORD": users.reader.password,
        "INFLUXDB_DOWNSAMPLED": downsampled(load_catalog()),
    }
    if influx.ca_file:  # influxd serves HTTPS: the CLI verifies it against the sandbox's CA
        env["INFLUXDB_CA_FILE"] = influx.ca_file
    return subprocess.run(
        ["sh", str(INFLUX_INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


class Sandbox:
    """One set of local services whose state, data, logs and PIDs live under `root`.

    `state.json` keeps the ports and generated passwords, so a restarted service comes back
    where its clients expect it, with its data.
    """

    def __init__(self, root: Path, ports: dict[str, int] | None = None, ready_timeout: float = 30.0) -> None:
        self.root = root.resolve()
        self.requested_ports = ports or {}
        self.ready_timeout = ready_timeout

    # -- paths -------------------------------------------------------------------------------------
    @property
    def endpoints_path(self) -> Path:
        return endpoints_file(self.root)

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def pid_file(self, name: str) -> Path:
        return self.root / "pids" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    @property
    def ca(self) -> LocalCa:
        return LocalCa(self.root / "ca")

    @property
    def access_path(self) -> Path:
        """The local IoT endpoint's access rules, from the IoT registry (local_aws/iot/access.py)."""
        return self.root / ACCESS_FILE

    # -- state -------------------------------------------------------------------------------------
    def _load_state(self) -> _State | None:
        """The saved ports and passwords; a service or user added since the state was written gets its own,
        once, so a returning user's sandbox keeps the ports and passwords it had."""
        if not self.state_path.exists():
            return None
        state: _State = json.loads(self.state_path.read_text())
        ports = [name for name in PORTS if name not in state["ports"]]
        users = [name for name in USERS if name not in state["passwords"]]
        if ports or users:
            state["ports"].update({name: self._pick_port(name) for name in ports})
            state["passwords"].update({name: secrets.token_urlsafe(18) for name in users})
            self._save_state(state)
        return state

    def _pick_port(self, name: str) -> int:
        return self.requested_ports.get(name) or processes.free_port(HOST)

    def _new_state(self) -> _State:
        return {
            "ports": {name: self._pick_port(name) for name in PORTS},
            "passwords": {role: secrets.token_urlsafe(18) for role in USERS},
        }

    def _save_state(self, state: _State) -> None:
        self.state_path.write_text(json.dumps(state, indent=2) + "\n")
        self.state_path.chmod(0o600)  # it holds the generated passwords

    def _port(self, name: str) -> int:
        state = self._load_state()
        if state is None:
            raise SandboxError(f"no local services under {self.root}: run 'python -m sandbox up'")
        return state["ports"][name]

    def _saved_endpoints(self) -> Endpoints | None:
        """What endpoints.json adds to the state (queues, picture); None when absent or of an older layout."""
        try:
            return Endpoints.load(self.endpoints_path) if self.endpoints_path.exists() else None
        except ValidationError:
            return None  # of an older layout: rewritten by the next 'up'

    def endpoints(self) -> Endpoints:
        """Where the services are, from the saved state (whether or not they run now)."""
        state = self._load_state()
        if state is None:
            raise SandboxError(f"no local services under {self.root}: run 'python -m sandbox up'")
        ports, passwords = state["ports"], state["passwords"]
        saved = self._saved_endpoints()
        return Endpoints(
            mqtt=MqttEndpoint(
                host=HOST,
                port=ports["mosquitto"],
                username=MQTT_USER,
                password=passwords[MQTT_USER],
                tls_port=ports["mqtts"],
                ca_file=str(self.ca.ca_file),
            ),
            influxdb=InfluxEndpoint(
                url=f"https://{HOST}:{ports['influxdb']}",
                ca_file=str(self.ca.ca_file),
                database=DATABASE,
                users=InfluxUsers(
                    admin=InfluxUser(username="admin", password=passwords["admin"]),
                    writer=InfluxUser(username="writer", password=passwords["writer"]),
                    reader=InfluxUser(username="reader", password=passwords["reader"]),
                ),
                rpc=f"{HOST}:{ports['influxdb_rpc']}",
            ),
            aws=AwsEndpoint(
                endpoint_url=f"http://{HOST}:{ports['moto']}", region=REGION, account_id=ACCOUNT_ID
            ),
            queues=saved.queues if saved else {},
            dashboard_png=saved.dashboard_png if saved else None,
            sql=SqlEndpoint(
                host=HOST,
                port=ports["mariadb"],
                users={
                    role: Login(username=username, password=passwords[SQL_USERS[role]])
                    for role, username in SQL_ROLES.items()
                },
                data_api_url=f"http://{HOST}:{ports['rds_data']}",
                cluster_arn=SQL_CLUSTER_ARN,
                database=SQL_DATABASE,
                secrets=saved.sql.secrets if saved and saved.sql else {},
            ),
        )

    # -- lifecycle ---------------------------------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        state = self._load_state()
        ports = state["ports"] if state else {}
        result = []
        for name in (*SERVICE_NAMES, *self._extra_pid_names()):
            record = processes.running(self.pid_file(name))
            port = ports.get(SERVICE_PORTS.get(name, (name,))[0])
            result.append(ServiceStatus(name=name, pid=record.pid if record else None, port=port))
        return result

    def is_up(self) -> bool:
        return all(service.running for service in self.status())

    def up(self) -> Endpoints:
        """Start whatever is not running (reusing ports and data of an earlier run) and write endpoints.json."""
        (self.root / "pids").mkdir(parents=True, exist_ok=True)
        if not self.state_path.exists():
            self._save_state(self._new_state())
        self.ca.ensure()
        try:
            for name in SERVICE_NAMES:
                if processes.running(self.pid_file(name)) is None:
                    self.start_service(name)
        except BaseException:
            self.down()
            raise
        endpoints = self.endpoints()
        endpoints.save(self.endpoints_path)  # 0600 from the first byte
        sync(self.access_path, endpoints.aws)  # moto keeps no state across a restart: neither may the broker
        return endpoints

    def down(self) -> list[str]:
        """Stop every service this sandbox started; returns the names of those that were running."""
        stopped = []
        # The rule runner first: it still talks to the services while it finishes.
        for name in (*self._extra_pid_names(), *SERVICE_NAMES):
            if processes.stop(name, self.pid_file(name)):
                stopped.append(name)
        return stopped

    def _extra_pid_names(self) -> list[str]:
        """Other processes recorded here (the rule runner), stopped by `down` like the services."""
        folder = self.root / "pids"
        if not folder.exists():
            return []
        return sorted(p.stem for p in folder.glob("*.pid") if p.stem not in SERVICE_NAMES)

    def stop_service(self, name: str) -> None:
        processes.stop(name, self.pid_file(name))

    def start_service(self, name: str) -> None:
        starters: dict[str, Callable[[], None]] = {
            "influxdb": self._start_influxdb,
            "mosquitto": self._start_mosquitto,
            "moto": self._start_moto,
            "iot-gateway": self._start_gateway,
            "mariadb": self._start_mariadb,
            "rds-data": self._start_rds_data,
        }
        if name not in starters:
            raise SandboxError(f"unknown service '{name}': choose one of {', '.join(SERVICE_NAMES)}")
        for port_name in SERVICE_PORTS.get(name, (name,)):
            port = self._port(port_name)
            if not processes.port_is_free(port, HOST):
                raise SandboxError(
                    f"cannot start {name}: port {HOST}:{port} is in use by another process; stop that process, "
                    f"or run 'python -m sandbox down' and remove {self.state_path} to pick new ports"
                )
        starters[name]()

    def _start(self, name: str, argv: list[str], ready: Callable[[], bool]) -> None:
        processes.start(
            name,
            argv,
            pid_file=self.pid_file(name),
            log_file=self.log_file(name),
            ready=ready,
            timeout=self.ready_timeout,
        )

    # -- the services ------------------------------------------------------------------------------
    def _start_influxdb(self) -> None:
        binary = _require_binary("influxd")
        _require_binary("influx")  # the start-up script uses the CLI
        port, rpc_port = self._port("influxdb"), self._port("influxdb_rpc")
        data = self.root / "influxdb"
        config = self.root / "config" / "influxdb.conf"
        config.parent.mkdir(parents=True, exist_ok=True)
        # HTTPS only, with the server certificate of the sandbox's CA (localhost, 127.0.0.1), as the ECS task serves
        # it with the deploy tool's CA (services/influxdb/start.sh): a client that does not trust the CA is refused.
        ca = self.ca.ensure()
        config.write_text(
            f'reporting-disabled = true\nbind-address = "{HOST}:{rpc_port}"\n\n'
            f'[meta]\n  dir = "{data}/meta"\n\n'
            f'[data]\n  dir = "{data}/data"\n  wal-dir = "{data}/wal"\n  query-log-enabled = false\n\n'
            f'[http]\n  bind-address = "{HOST}:{port}"\n  auth-enabled = true\n  log-enabled = false\n'
            f'  https-enabled = true\n  https-certificate = "{ca.server_cert_file}"\n'
            f'  https-private-key = "{ca.server_key_file}"\n'
            f"{_influx_debug_settings(binary)}\n"
            "[monitor]\n  store-enabled = false\n\n"
            "[continuous_queries]\n  log-enabled = false\n"
        )
        self._start(
            "influxdb",
            [binary, "-config", str(config)],
            lambda: _http_status(f"https://{HOST}:{port}/ping", ca.ca_file) == 204,
        )
        self._init_influxdb()

    def _init_influxdb(self) -> None:
        """Make the database and users exactly as the ECS task does, with the same script."""
        result = run_influxdb_init(self.endpoints())
        if result.returncode != 0:
            raise SandboxError(
                f"{INFLUX_INIT_SCRIPT.name} failed (status {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-800:]}"
            )

    def _start_mosquitto(self) -> None:
        binary = _require_binary("mosquitto")
        port = self._port("mosquitto")
        config = self.root / "config" / "mosquitto.conf"
        config.parent.mkdir(parents=True, exist_ok=True)
        passwords = self._load_state()["passwords"]  # type: ignore[index]
        password_file = self.root / "config" / "mosquitto.passwd"
        write_password_file(password_file, {user: passwords[user] for user in (MQTT_USER, GATEWAY_USER)})
        # No anonymous client: a user and password from endpoints.json (devices come in through the
        # mutual-TLS endpoint, local_aws/iot/endpoint.py, under its own user). mosquitto runs as the sandbox's own
        # user, like influxd and moto: started as root it would drop to 'mosquitto', which cannot read the
        # 0600 password file or write its persistence file in a private sandbox folder.
        store = self.root / "mosquitto"
        store.mkdir(parents=True, exist_ok=True)
        # Unlimited queue and in-flight window: with the defaults a QoS 1 subscriber loses most of a burst.
        # Persistence, as IoT Core keeps what it acknowledged: sessions, subscriptions and queued messages
        # survive a restart (saved on shutdown, and every few seconds against a crash mid-burst).
        config.write_text(
            f"user {getpass.getuser()}\n"
            f"listener {port} {HOST}\nallow_anonymous false\npassword_file {password_file}\n"
            f"persistence true\npersistence_location {store}/\nautosave_interval 2\n"
            # IoT Core refuses a message over its limit by closing the connection: `max_packet_size` does that
            # (the publisher's QoS 1 publish fails). Not `message_size_limit`: it acknowledges, then drops.
            f"max_packet_size {MQTT_MAX_PACKET_BYTES}\n"
            "sys_interval 1\n"  # the accounting reads the broker's backlog from $SYS/broker/store/messages/count
            "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest stdout\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        self._start("mosquitto", [binary, "-c", str(config)], lambda: processes.tcp_answers(port, HOST))

    def _start_gateway(self) -> None:
        """The mutual-TLS device endpoint (IoT Core's), relaying what the devices' policies allow to mosquitto."""
        port = self._port("mqtts")
        ca = self.ca.ensure()
        config = self.root / "config" / "iot-gateway.json"
        settings = {
            "host": HOST,
            "port": port,
            "upstream_host": HOST,
            "upstream_port": self._port("mosquitto"),
            "username": GATEWAY_USER,
            "password": self._load_state()["passwords"][GATEWAY_USER],  # type: ignore[index]
            "ca_file": str(ca.ca_file),
            "cert_file": str(ca.server_cert_file),
            "key_file": str(ca.server_key_file),
            "access_file": str(self.access_path),
        }
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(settings, handle, indent=2)
        self._start(
            "iot-gateway",
            [sys.executable, "-m", "local_aws.iot.endpoint", "--config", str(config)],
            lambda: processes.tcp_answers(port, HOST),
        )

    def _start_moto(self) -> None:
        port = self._port("moto")
        self._start(
            "moto",
            [sys.executable, "-m", "local_aws.moto_server", "-H", HOST, "-p", str(port)],
            lambda: _http_status(f"http://{HOST}:{port}/moto-api/data.json") == 200,
        )

    def _start_mariadb(self) -> None:
        """MariaDB for the SQL sink, on 127.0.0.1 only, its data under the sandbox (made on the first start)."""
        binary = _require_binary("mariadbd", SYSTEM_BINARIES)
        port, data = self._port("mariadb"), self.root / MARIADB_DATA
        # As root mariadbd must be told to stay root (it would switch to 'mysql', who cannot read the sandbox);
        # otherwise it runs as the sandbox's own user, as the other services do.
        as_user = [f"--user={getpass.getuser()}"]
        if not (data / "mysql").is_dir():
            data.mkdir(parents=True, exist_ok=True)
            install = subprocess.run(
                [_require_binary("mariadb-install-db", SYSTEM_BINARIES), "--no-defaults", f"--datadir={data}",
                 "--auth-root-authentication-method=socket", "--skip-test-db", *as_user],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            if install.returncode != 0:
                shutil.rmtree(data, ignore_errors=True)  # half made: made again on the next start
                raise SandboxError(
                    f"mariadb-install-db failed (status {install.returncode}): "
                    f"{(install.stderr or install.stdout).strip()[-800:]}"
                )
        self._start(
            "mariadb",
            [binary, "--no-defaults", f"--datadir={data}", f"--bind-address={HOST}", f"--port={port}",
             f"--socket={self._mariadb_socket()}", f"--pid-file={data / 'mariadbd.pid'}", "--skip-name-resolve",
             "--default-time-zone=+00:00", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin",
             *as_user],
            lambda: processes.tcp_answers(port, HOST),
        )  # fmt: skip
        self._init_mariadb()

    def _mariadb_socket(self) -> Path:
        """The server's Unix socket, through which the OS user logs in as root: under the sandbox, or in the
        temporary folder when that path is too long for a socket (108 bytes on Linux, 104 on macOS)."""
        path = self.root / MARIADB_DATA / "mariadbd.sock"
        if len(str(path).encode()) < 100:
            return path
        return (
            Path(tempfile.gettempdir())
            / f"mariadbd-{hashlib.sha256(str(self.root).encode()).hexdigest()[:12]}.sock"
        )

    def _init_mariadb(self) -> None:
        """The master user the set-up step logs in as, with the sandbox's password, from 127.0.0.1 only (as
        Aurora's master user; the set-up step makes the writer and the reader). Run at every start: idempotent."""
        sql = self.endpoints().sql
        assert sql is not None
        master = sql.users["master"]
        account = f"'{master.username}'@'{HOST}'"
        statements = (
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{master.password}';"
            f"ALTER USER {account} IDENTIFIED BY '{master.password}';"
            f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;"
        )
        result = subprocess.run(  # the statements on stdin: a password on a command line is anyone's to read
            [_require_binary("mariadb", SYSTEM_BINARIES), "--no-defaults", f"--socket={self._mariadb_socket()}",
             f"--user={getpass.getuser()}", "--batch"],
            input=statements, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise SandboxError(
                f"setting up MariaDB's master user failed (status {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-800:]}"
            )

    def _start_rds_data(self) -> None:
        """The RDS Data API, forwarding to MariaDB with the credentials of the secret each request names."""
        port = self._port("rds_data")
        self._start(
            "rds-data",
            [sys.executable, "-m", "local_aws.rds_data", "--host", HOST, "--port", str(port),
             "--cluster-arn", SQL_CLUSTER_ARN, "--mysql-host", HOST, "--mysql-port", str(self._port("mariadb")),
             "--aws-endpoint", f"http://{HOST}:{self._port('moto')}"],
            lambda: processes.tcp_answers(port, HOST),
        )  # fmt: skip
