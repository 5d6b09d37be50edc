package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/audit/file"
	"github.com/keyway-dev/keyway/core/audit/pgsink"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/server"
)

// auditFlags are the options common to audit search and tail.
type auditFlags struct {
	config, typ, user, db, since, format string
}

func (o *auditFlags) register(cmd *cobra.Command) {
	configFlag(cmd, &o.config)
	cmd.Flags().StringVar(&o.typ, "type", "", "only events of this type, e.g. db.session.query")
	cmd.Flags().StringVar(&o.user, "user", "", "only events of this keyway user")
	cmd.Flags().StringVar(&o.db, "db", "", "only events of this database (its name in the db block)")
	cmd.Flags().StringVar(&o.since, "since", "", "only events from this long ago (1h, 30m) or since this RFC 3339 time")
	cmd.Flags().StringVar(&o.format, "format", "text", "text (one readable line per event) or json (one JSON object per line)")
}

// prepare loads the configuration and returns it with the filter and the
// printer the flags ask for.
func (o *auditFlags) prepare(cmd *cobra.Command, now time.Time) (*config.Config, audit.Filter, func(audit.Event) error, error) {
	f := audit.Filter{Type: o.typ, User: o.user, DB: o.db}
	since, err := parseSince(o.since, now)
	if err != nil {
		return nil, f, nil, err
	}
	f.Since = since
	printEvent, err := eventPrinter(cmd.OutOrStdout(), o.format)
	if err != nil {
		return nil, f, nil, err
	}
	cfg, _, err := loadConfig(o.config, cmd.ErrOrStderr())
	if err != nil {
		return nil, f, nil, err
	}
	if cfg.Audit == nil || (cfg.Audit.Path == "" && cfg.Audit.Postgres == nil) {
		return nil, f, nil, fmt.Errorf("%s configures no audit log", o.config)
	}
	return cfg, f, printEvent, nil
}

// openPostgres connects to the PostgreSQL audit sink of cfg.
func openPostgres(ctx context.Context, cfg *config.Config) (*pgsink.Reader, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return pgsink.OpenReader(ctx, server.PostgresAuditOptions(cfg, nil))
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Search and follow the audit log",
		Long: `Read the audit log: who connected to which database as whom, and what they
ran. These commands read the log named by the configuration's audit block
directly, so they work whether keyway is running or not: the files
(DATA_DIR/audit/events.log and its rotated predecessors), or, with a
postgres block, the PostgreSQL table, searched with SQL on its indexed
columns. See docs/audit.md.`,
	}
	var so auditFlags
	search := &cobra.Command{
		Use:   "search [--type=T] [--user=U] [--db=NAME] [--since=1h] [--format=json|text]",
		Short: "Print the events that match, oldest first",
		Example: `  keyway audit search --user=alice --since=24h
  keyway audit search --type=db.session.query --db=orders --format=json | jq .query`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, f, printEvent, err := so.prepare(cmd, time.Now())
			if err != nil {
				return err
			}
			if cfg.Audit.Postgres != nil {
				r, err := openPostgres(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				defer r.Close()
				return r.Scan(cmd.Context(), f, printEvent)
			}
			st, err := file.Scan(cfg.Audit.Path, f, printEvent)
			if err != nil {
				return err
			}
			reportSkipped(cmd.ErrOrStderr(), st.Skipped)
			return nil
		},
	}
	so.register(search)

	var to auditFlags
	var lines int
	var follow bool
	tail := &cobra.Command{
		Use:   "tail [--type=T] [--user=U] [--db=NAME] [--format=json|text] [-n 10] [--follow=false]",
		Short: "Print the last events and follow new ones as they are written",
		Long: `Print the last matching events (10 by default, -n), then each new matching
event as keyway appends it, until interrupted. The log is polled every
200ms and followed across rotations. With --follow=false it stops after
the last events.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, f, printEvent, err := to.prepare(cmd, time.Now())
			if err != nil {
				return err
			}
			if lines < 0 {
				return fmt.Errorf("-n %d: give a number of events, 0 or more", lines)
			}
			f.Limit = lines
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if cfg.Audit.Postgres != nil {
				r, err := openPostgres(ctx, cfg)
				if err != nil {
					return err
				}
				defer r.Close()
				err = r.Tail(ctx, f, follow, printEvent)
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
			path := cfg.Audit.Path
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && follow {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s does not exist yet; waiting for events\n", path)
			}
			err = file.Tail(ctx, path, f, follow, printEvent)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	to.register(tail)
	tail.Flags().IntVarP(&lines, "lines", "n", 10, "how many past events to print first")
	tail.Flags().BoolVarP(&follow, "follow", "f", true, "keep printing new events")

	cmd.AddCommand(search, tail)
	return cmd
}

// parseSince reads --since: a duration back from now, or an RFC 3339
// time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since=%s: give how long ago, e.g. 1h", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since=%s: give a duration (1h, 30m) or an RFC 3339 time (2026-01-02T15:04:05Z)", s)
	}
	return t, nil
}

// eventPrinter returns a function that prints one event in format.
func eventPrinter(w io.Writer, format string) (func(audit.Event) error, error) {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return func(e audit.Event) error { return enc.Encode(e) }, nil
	case "text", "":
		return func(e audit.Event) error {
			_, err := io.WriteString(w, textLine(e)+"\n")
			return err
		}, nil
	}
	return nil, fmt.Errorf("--format=%s: use text or json", format)
}

// queryWidth is how much of a query a text line shows.
const queryWidth = 80

// textLine renders an event as one readable line: time, event, then the
// user, database and query that are set. Values are quoted when needed,
// so that nothing in an event can break the line or the terminal.
func textLine(e audit.Event) string {
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format(time.RFC3339))
	b.WriteByte(' ')
	b.WriteString(quoteIfNeeded(e.Event))
	for _, kv := range [][2]string{{"user", e.User}, {"db", e.DBService}, {"db_user", e.DBUser}} {
		if kv[1] != "" {
			b.WriteString(" " + kv[0] + "=" + quoteIfNeeded(kv[1]))
		}
	}
	if e.Query != "" {
		b.WriteString(" query=" + strconv.Quote(truncate(strings.Join(strings.Fields(e.Query), " "), queryWidth)))
	}
	if !e.Success {
		b.WriteString(" FAILED")
		if e.Error != "" {
			b.WriteString(" error=" + strconv.Quote(e.Error))
		}
	}
	return b.String()
}

// truncate cuts s to n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// quoteIfNeeded quotes values with spaces, quotes, '=' or unprintable
// characters.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=\\") || strconv.Quote(s) != `"`+s+`"` {
		return strconv.Quote(s)
	}
	return s
}

func reportSkipped(w io.Writer, n int) {
	if n > 0 {
		fmt.Fprintf(w, "note: %d unreadable line(s) skipped (a torn last line after a crash or a full disk is expected)\n", n)
	}
}
