"""The benchmark's --database: a scratch database of its own on the server, gone afterwards."""

import pytest
from playhouse.db_url import connect

from scripts.bench.database import scratch
from tests.conftest import DATABASES, REQUIRE_DATABASES
from tests.servers import unreachable


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_a_scratch_database_is_made_on_the_server_and_dropped_after(backend):
    server = DATABASES[backend]
    problem = unreachable(server)
    if problem:
        if REQUIRE_DATABASES:
            pytest.fail(problem)
        pytest.skip(problem)

    def databases():
        admin = connect(server)
        listed = ("SELECT datname FROM pg_database" if backend == "postgresql"
                  else "SHOW DATABASES")
        names = {row[0] for row in admin.execute_sql(listed).fetchall()}
        admin.close()
        return names

    with scratch(server) as url:
        name = url.rsplit("/", 1)[1]
        db = connect(url)
        db.execute_sql("CREATE TABLE t (id INTEGER)")
        db.close()
        assert name.startswith("phoneguard_bench_") and name in databases()

    assert name not in databases()


def test_a_sqlite_url_is_given_back_as_it_is():
    with scratch("sqlite:") as url:
        assert url == "sqlite:"
