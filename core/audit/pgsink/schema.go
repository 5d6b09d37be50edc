package pgsink

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// table names the events' table and its indexes, quoted for SQL.
type table struct {
	name string // as configured, e.g. audit.events
	sql  string // quoted, e.g. "audit"."events"
	base string // the unqualified name, for index names
}

func newTable(name string) table {
	parts := tableParts(name)
	return table{name: name, sql: pgx.Identifier(parts).Sanitize(), base: parts[len(parts)-1]}
}

// index returns the quoted name of one of the table's indexes.
func (t table) index(suffix string) string {
	return pgx.Identifier{t.base + "_" + suffix}.Sanitize()
}

// ensureSchema creates the table and its indexes when missing. An
// advisory lock keeps two keyway processes from racing to create them.
func ensureSchema(ctx context.Context, conn *pgx.Conn, t table) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "keyway audit table "+t.name); err != nil {
			return err
		}
		stmts := []string{
			`CREATE TABLE IF NOT EXISTS ` + t.sql + ` (
				seq      bigserial   NOT NULL,
				id       text        NOT NULL PRIMARY KEY,
				time     timestamptz NOT NULL,
				event    text        NOT NULL,
				username text        NOT NULL DEFAULT '',
				db       text        NOT NULL DEFAULT '',
				sid      text        NOT NULL DEFAULT '',
				body     jsonb       NOT NULL
			)`,
			`CREATE UNIQUE INDEX IF NOT EXISTS ` + t.index("seq") + ` ON ` + t.sql + ` (seq)`,
			`CREATE INDEX IF NOT EXISTS ` + t.index("time") + ` ON ` + t.sql + ` (time)`,
			`CREATE INDEX IF NOT EXISTS ` + t.index("event_time") + ` ON ` + t.sql + ` (event, time)`,
			`CREATE INDEX IF NOT EXISTS ` + t.index("username_time") + ` ON ` + t.sql + ` (username, time)`,
			`CREATE INDEX IF NOT EXISTS ` + t.index("db_time") + ` ON ` + t.sql + ` (db, time)`,
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertSQL inserts a batch given as arrays, one per column, skipping
// events already in the table.
func insertSQL(t table) string {
	return fmt.Sprintf(`INSERT INTO %s (id, time, event, username, db, sid, body)
		SELECT i, t, e, u, d, s, b::jsonb
		FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS x(i, t, e, u, d, s, b)
		ON CONFLICT (id) DO NOTHING`, t.sql)
}
