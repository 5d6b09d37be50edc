package pgsink

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// row is one event as the table stores it.
type row struct {
	id, event, user, db, sid string
	ei                       int64
	time                     time.Time
	body                     string
}

// eventID is a session event's session id and index, which every retry
// of the same event repeats; other events get a random id.
func eventID(sid string, ei int64) string {
	if sid != "" && ei > 0 {
		return sid + "/" + strconv.FormatInt(ei, 10)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encodeEvents renders events as rows, filling in the cluster and time.
func encodeEvents(events []audit.Event, cluster string) ([]row, error) {
	rows := make([]row, 0, len(events))
	now := time.Now().UTC()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if e.Cluster == "" {
			e.Cluster = cluster
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		buf.Reset()
		if err := enc.Encode(e); err != nil {
			return nil, fmt.Errorf("audit postgres: encoding %s event: %w", e.Event, err)
		}
		rows = append(rows, row{
			id: eventID(e.SessionID, e.Index), event: e.Event, user: e.User, db: e.DBService, sid: e.SessionID, ei: e.Index,
			time: e.Time, body: storable(string(bytes.TrimSpace(buf.Bytes()))),
		})
	}
	return rows, nil
}

// columns are the fields of an event that the table indexes.
type columns struct {
	Event     string    `json:"event"`
	Time      time.Time `json:"time"`
	User      string    `json:"user"`
	DBService string    `json:"db_service"`
	SessionID string    `json:"sid"`
	Index     int64     `json:"ei"`
}

// jsonRows turns events already encoded, as protocol plugins send them,
// into rows, reading only the indexed fields. Each must be a JSON object
// with an event type.
func jsonRows(objects [][]byte) ([]row, error) {
	rows := make([]row, 0, len(objects))
	now := time.Now().UTC()
	for i, o := range objects {
		o = bytes.TrimSpace(o)
		var c columns
		if len(o) == 0 || o[0] != '{' || json.Unmarshal(o, &c) != nil || c.Event == "" {
			return nil, fmt.Errorf("audit postgres: event %d is not a JSON object with an event type", i)
		}
		if c.Time.IsZero() {
			c.Time = now
		}
		rows = append(rows, row{
			id: eventID(c.SessionID, c.Index), event: c.Event, user: c.User, db: c.DBService, sid: c.SessionID, ei: c.Index,
			time: c.Time, body: storable(string(o)),
		})
	}
	return rows, nil
}

// args turns a batch into the insert's column arrays.
func args(rows []row) []any {
	ids, events, users, dbs, sids, bodies := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)),
		make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
	times := make([]time.Time, len(rows))
	for i, r := range rows {
		ids[i], times[i], events[i], users[i], dbs[i], sids[i], bodies[i] = r.id, r.time, r.event, r.user, r.db, r.sid, r.body
	}
	return []any{ids, times, events, users, dbs, sids, bodies}
}

// nulEscape is how JSON writes a NUL character, which jsonb cannot hold.
var nulEscape = []byte(`\u0000`)

// storable replaces the JSON escapes of NUL characters in body with
// U+FFFD, since jsonb refuses them. It reads escapes in pairs, so an
// escaped backslash followed by "u0000" is left alone.
func storable(body string) string {
	if !bytes.Contains([]byte(body), nulEscape) {
		return body
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			out = append(out, c)
			continue
		}
		if body[i+1] == 'u' && i+6 <= len(body) && body[i:i+6] == `\u0000` {
			out = append(out, `\ufffd`...)
			i += 5
			continue
		}
		out = append(out, c, body[i+1])
		i++
	}
	return string(out)
}

// unstorable is what is written instead of an event whose JSON the
// database refused: its indexed fields, the reason, and the original
// bytes in base64, so nothing is lost.
func unstorable(r row, reason string) row {
	b, _ := json.Marshal(map[string]any{
		"event": r.event, "time": r.time, "user": r.user, "db_service": r.db, "sid": r.sid, "ei": r.ei,
		"unstorable": reason, "raw_base64": base64.StdEncoding.EncodeToString([]byte(r.body)),
	})
	r.body = string(b)
	return r
}
