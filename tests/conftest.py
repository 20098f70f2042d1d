"""Shared fixtures: a node identity for in-process tests, users for every role,
and live nodes (real servers, separate databases) for end-to-end tests."""

from __future__ import annotations

import compileall
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from accord.core import identity
from accord.core.audit import Actor
from accord.core.models import User
from accord.core.roles import Role
from tests.live import (
    TEST_PASSWORD,
    LiveNode,
    discard_node,
    ensure_peered,
    make_node,
    running_nodes,
)
from tests.second_factor import verified_session


def pytest_configure(config: pytest.Config) -> None:
    """Accord's modules compiled to bytecode before any test starts (in the
    controller only). Every live node, `accord` command and set-up helper is
    a new Python process that imports Django and all of accord; where Python
    writes no bytecode (PYTHONDONTWRITEBYTECODE, as on CI) each would compile
    ~260 modules from source again (~0.7 s of CPU of the ~2.8 s a short
    `accord` command takes), in each of the hundreds of processes a run
    starts. Compiled once here, every process after reads them."""
    if not hasattr(config, "workerinput"):
        import accord

        compileall.compile_dir(Path(accord.__file__).parent, quiet=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report ends with the last lines of every live node's
    log: what a node answered with a 500 is logged there, with its traceback."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        for node in running_nodes():
            report.sections.append((f"{node.node_id} log, last lines", node.log_tail()))


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """--dist loadfile in the order of tests/scheduling.py (live files first,
    the files of each shared node set one unit)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import LongestFirst

    return LongestFirst(config, log)


@pytest.fixture(scope="session", autouse=True)
def test_node_identity() -> identity.NodeIdentity:
    data_dir = settings.DATA_DIR  # a fresh temporary folder (tests/settings.py)
    if not (data_dir / identity.NODE_FILE).exists():
        identity.write_identity(data_dir, "xx.test", "Testland", "Test Agency")
    identity.this_node.cache_clear()
    return identity.this_node()


@pytest.fixture(autouse=True)
def migration_data_back(request) -> None:
    """A transactional test ends by flushing the database, and with it the rows
    the migrations made (the default intel collection, `shared`). pytest-django
    runs such tests last, but under xdist a worker may take another file after
    one: every test that uses the database starts with the rows a fresh node
    has (in its own transaction, so it costs one query)."""
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    if marker is None and not {"db", "transactional_db"} & set(names):
        return
    transactional = "transactional_db" in names or bool(marker and marker.kwargs.get("transaction"))
    request.getfixturevalue("transactional_db" if transactional else "db")
    from importlib import import_module

    from django.apps import apps

    import_module("accord.intel.migrations.0002_default_collection").create(apps, None)


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Every test starts in the node's default language: a page served to a
    user who reads Chinese leaves Chinese active in the thread that served it."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(scope="session", autouse=True)
def second_factor_verified_in_test_clients() -> Iterator[None]:
    """A test client signed in with `force_login` or `login` is past the second
    factor too, as a person would be after the sign-in's code step: the tests of
    everything else need not repeat it. tests/web/test_second_factor.py signs in
    through the pages instead and proves the requirement holds."""
    sign_in = Client._login

    def sign_in_verified(self: Client, user: User, backend: str | None = None) -> None:
        sign_in(self, user, backend)
        verified_session(self, user)

    # Session scope: module-scoped fixtures sign their clients in too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Client, "_login", sign_in_verified)
        yield


@pytest.fixture
def system() -> Actor:
    return Actor.system("test")


@pytest.fixture
def users(db) -> dict[Role, User]:
    """One active user per role, all with TEST_PASSWORD."""
    from accord.core import services

    return {
        role: services.create_user(Actor.system("test"), f"{role.value}-user", role, TEST_PASSWORD)
        for role in Role
    }


@pytest.fixture
def client_for(users) -> Iterator:
    def make(role: Role | None) -> Client:
        client = Client()
        if role is not None:
            client.force_login(users[role])
        return client

    yield make


@pytest.fixture(scope="session")
def two_live_nodes(tmp_path_factory) -> Iterator[tuple[LiveNode, LiveNode]]:
    """cn.test and us.test: initialised, one user per role each (username = role
    value, password TEST_PASSWORD), serving. Shared by the session: tests add
    to them but must not assume they are empty."""
    root = tmp_path_factory.mktemp("live")
    # Each in its own calendar (DOMAIN.md, "Calendars"): the replicas must still agree.
    nodes = (
        make_node(
            root,
            "cn.test",
            "China",
            "Ministry of Public Security",
            ACCORD_TIME_ZONE="Asia/Shanghai",
            ACCORD_HOLIDAY_COUNTRY="CN",
        ),
        make_node(
            root,
            "us.test",
            "United States",
            "Department of Justice",
            ACCORD_TIME_ZONE="America/New_York",
            ACCORD_HOLIDAY_COUNTRY="US",
        ),
    )
    try:
        for node in nodes:
            node.init()
            node.create_users({role.value: role.value for role in Role})
            node.start()
        yield nodes
    finally:
        for node in nodes:
            discard_node(node)


@pytest.fixture(scope="session")
def three_agencies(tmp_path_factory) -> Iterator[tuple[LiveNode, LiveNode, LiveNode]]:
    """The reference set-up of parties with several agencies (issue 16): cn.mps
    (China's central authority), us.doj (the United States' central authority)
    and us.dhs (an executing agency of the United States), every pair peered,
    one user per role each (username = role value, password TEST_PASSWORD),
    serving. Shared by the session: tests add to them but must not assume they
    are empty, nor that a peer they did not add is absent."""
    root = tmp_path_factory.mktemp("agencies")
    nodes = (
        make_node(root, "cn.mps", "China", "Ministry of Public Security"),
        make_node(root, "us.doj", "United States", "Department of Justice"),
        make_node(
            root,
            "us.dhs",
            "United States",
            "Department of Homeland Security",
            central_authority=False,
        ),
    )
    try:
        for node in nodes:
            node.init()
            node.create_users({role.value: role.value for role in Role})
            node.start()
        cn, doj, dhs = nodes
        for a, b in ((cn, doj), (cn, dhs), (doj, dhs)):
            ensure_peered(a, b)
        yield nodes
    finally:
        for node in nodes:
            discard_node(node)
