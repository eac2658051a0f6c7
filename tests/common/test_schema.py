import sqlglot

from keiba.common.schema import CONTRACT_TABLES, WAREHOUSE_TABLES, bigquery_ddl, duckdb_ddl, table


def test_contract_tables_carry_race_id_first() -> None:
    for t in CONTRACT_TABLES:
        assert t.column_names[0] == "race_id"
        assert set(t.key) <= set(t.column_names)


def test_bigquery_ddl_partitions_races_by_date_and_parses() -> None:
    ddl = bigquery_ddl(table("races"), "keiba")
    assert "PARTITION BY race_date" in ddl
    assert "CLUSTER BY race_id, bet_type" in bigquery_ddl(table("payouts"), "keiba")
    for t in WAREHOUSE_TABLES:
        sqlglot.parse_one(bigquery_ddl(t, "keiba"), read="bigquery")


def test_duckdb_ddl_declares_primary_keys() -> None:
    assert "PRIMARY KEY (race_id, horse_no)" in duckdb_ddl(table("runners"))
