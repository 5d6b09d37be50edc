package e2e

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestWholeProtocolPassesThrough runs simple and extended queries, COPY
// both ways, LISTEN/NOTIFY, a large streamed result and a cancel through
// the proxy with pgx.
func TestWholeProtocolPassesThrough(t *testing.T) {
	a := startAllInOne(t)
	a.pg.SQL(t, "create table items (id int primary key, name text)")
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := a.pgxConnect(t, alice, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()

	t.Run("application_name passes on", func(t *testing.T) {
		var app string
		if err := conn.QueryRow(ctx, "select application_name from pg_stat_activity where pid = pg_backend_pid()").Scan(&app); err != nil || app != "keyway-e2e" {
			t.Fatalf("application_name = %q, %v", app, err)
		}
	})
	t.Run("extended protocol with parameters", func(t *testing.T) {
		for i := range 3 {
			if _, err := conn.Exec(ctx, "insert into items values ($1, $2)", i, "item "+string(rune('a'+i))); err != nil {
				t.Fatal(err)
			}
		}
		var name string
		if err := conn.QueryRow(ctx, "select name from items where id = $1", 2).Scan(&name); err != nil || name != "item c" {
			t.Fatalf("name = %q, %v", name, err)
		}
	})
	t.Run("simple protocol", func(t *testing.T) {
		var n int
		err := conn.QueryRow(ctx, "select count(*) from items", pgx.QueryExecModeSimpleProtocol).Scan(&n)
		if err != nil || n != 3 {
			t.Fatalf("count = %d, %v", n, err)
		}
	})
	t.Run("COPY of 100 MB in and out", func(t *testing.T) {
		a.pg.SQL(t, "create table bulk (line text)")
		line := strings.Repeat("x", 1023) + "\n"
		const lines = 100 << 10 // 100 MiB
		in := io.LimitReader(&repeatReader{s: line}, int64(len(line))*lines)
		tag, err := conn.PgConn().CopyFrom(ctx, in, "copy bulk from stdin")
		if err != nil || tag.RowsAffected() != lines {
			t.Fatalf("copy from: %v, %v", tag, err)
		}
		var n countingWriter
		if _, err := conn.PgConn().CopyTo(ctx, &n, "copy bulk to stdout"); err != nil {
			t.Fatal(err)
		}
		if n != countingWriter(len(line)*lines) {
			t.Fatalf("copy to gave %d bytes, want %d", n, len(line)*lines)
		}
	})
	t.Run("COPY in and out", func(t *testing.T) {
		in := strings.NewReader("10\tten\n11\televen\n")
		tag, err := conn.PgConn().CopyFrom(ctx, in, "copy items from stdin")
		if err != nil || tag.RowsAffected() != 2 {
			t.Fatalf("copy from: %v, %v", tag, err)
		}
		var out bytes.Buffer
		if _, err := conn.PgConn().CopyTo(ctx, &out, "copy (select id, name from items where id >= 10 order by id) to stdout"); err != nil {
			t.Fatal(err)
		}
		if out.String() != "10\tten\n11\televen\n" {
			t.Fatalf("copy to gave %q", out.String())
		}
	})
	t.Run("LISTEN and NOTIFY", func(t *testing.T) {
		if _, err := conn.Exec(ctx, "listen keyway_events"); err != nil {
			t.Fatal(err)
		}
		a.pg.SQL(t, "notify keyway_events, 'hello'")
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		n, err := conn.WaitForNotification(wctx)
		if err != nil || n.Channel != "keyway_events" || n.Payload != "hello" {
			t.Fatalf("notification %+v, %v", n, err)
		}
	})
	t.Run("large result streams", func(t *testing.T) {
		rows, err := conn.Query(ctx, "select repeat('x', 1000) from generate_series(1, 50000)")
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			total += len(s)
		}
		if rows.Err() != nil || total != 50_000_000 {
			t.Fatalf("read %d bytes, %v", total, rows.Err())
		}
	})
	t.Run("cancel with the proxy's key", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := conn.Exec(ctx, "select pg_sleep(30)")
			done <- err
		}()
		// Cancel once the backend is really sleeping.
		waitFor(t, 10*time.Second, "the query to start", func() bool {
			return a.pg.SQL(t, "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'") == "1"
		})
		if err := conn.PgConn().CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the query finished instead of being cancelled")
			}
			if state, _ := sqlState(t, err); state != "57014" {
				t.Fatalf("cancelled query: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the cancel did not reach the backend")
		}
	})
}

// pgxSimple runs a statement with the simple protocol.
var pgxSimple = pgx.QueryExecModeSimpleProtocol

// repeatReader reads s over and over.
type repeatReader struct {
	s   string
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

// countingWriter counts what is written to it.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
