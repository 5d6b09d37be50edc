package audit

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Decoder reads events from JSON objects as json.Unmarshal would into
// an Event, without reflection: a proxy decodes every event its agents
// send, one per audited statement. Keys match the fields' names exactly
// (json.Unmarshal also takes a key that differs in case), keys of no
// field are ignored, a repeated key's last value counts, null empties
// a slice or pointer and leaves other fields as they are, and a value of
// the wrong type is an error, as is nesting
// deeper than fastjson's 300 levels. Its zero value is ready; it is
// reused from one event to the next and is not safe for concurrent use.
// An event keeps no memory of the Decoder's.
type Decoder struct {
	p fastjson.Parser
	// text gathers the event's strings, which share one allocation once
	// it is read; strings says where each lies.
	text    []byte
	strings []pending
}

// Decode reads the event b encodes. b must be valid JSON, as
// json.Unmarshal requires: fastjson's parser alone would take, say, a
// raw line break inside a string. The parser runs first, since it bounds
// nesting and the validator does not.
func (d *Decoder) Decode(b []byte) (Event, error) {
	var e Event
	v, err := d.p.ParseBytes(b)
	if err == nil {
		err = fastjson.ValidateBytes(b)
	}
	if err != nil {
		return e, fmt.Errorf("decoding an audit event: %w", err)
	}
	o, err := v.Object()
	if err != nil {
		return e, fmt.Errorf("decoding an audit event: %w", err)
	}
	d.text, d.strings = d.text[:0], d.strings[:0]
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		if v.Type() == fastjson.TypeNull {
			d.unset(&e, string(k))
			return
		}
		if ferr := d.setField(&e, string(k), v); ferr != nil {
			err = fmt.Errorf("decoding an audit event: field %q: %w", k, ferr)
		}
	})
	if err == nil {
		d.assign(&e)
	}
	return e, err
}

// pending is where the text of a string field (or of parameter param,
// for field -1) lies in Decoder.text.
type pending struct {
	field, param int
	start, end   int
}

// assign sets e's string fields from one copy of the text. A repeated
// key's last value counts, as it comes last.
func (d *Decoder) assign(e *Event) {
	all := string(d.text)
	for _, s := range d.strings {
		if s.field >= 0 {
			*stringField(e, s.field) = all[s.start:s.end]
		} else {
			e.Parameters[s.param] = all[s.start:s.end]
		}
	}
}

// setField sets the field of e that key names from v; a key that names
// none is ignored.
func (d *Decoder) setField(e *Event, key string, v *fastjson.Value) error {
	if f := stringFieldIndex(key); f >= 0 {
		return d.queue(f, 0, v)
	}
	if n := intField(e, key); n != nil {
		x, err := v.Int64()
		*n = x
		return err
	}
	switch key {
	case "success":
		return setBool(&e.Success, v)
	case "truncated":
		return setBool(&e.Truncated, v)
	case "time":
		return setTime(&e.Time, v)
	case "grace_ends":
		t := new(time.Time)
		e.GraceEnds = t
		return setTime(t, v)
	case "parameters":
		items, err := v.Array()
		if err != nil {
			return err
		}
		d.unset(e, key)
		e.Parameters = make([]string, len(items))
		for i, item := range items {
			if item.Type() == fastjson.TypeNull {
				continue
			}
			if err := d.queue(-1, i, item); err != nil {
				return err
			}
		}
	}
	return nil
}

// unset applies a null: as json.Unmarshal does, it empties a slice or a
// pointer (and a repeated key's earlier parameters are dropped with
// theirs) and leaves any other field as it was.
func (d *Decoder) unset(e *Event, key string) {
	switch key {
	case "grace_ends":
		e.GraceEnds = nil
	case "parameters":
		e.Parameters = nil
		kept := d.strings[:0]
		for _, s := range d.strings {
			if s.field >= 0 {
				kept = append(kept, s)
			}
		}
		d.strings = kept
	}
}

// stringKeys are the keys of the string fields, in stringField's order.
var stringKeys = [...]string{"event", "code", "cluster", "error", "sid", "user", "spiffe_id", "client_addr",
	"db_service", "db_protocol", "db_uri", "db_user", "db_name", "query", "command_tag", "reason", "target", "ca_pin"}

// stringFieldIndex is the place of key in stringKeys, -1 if it is not
// there.
func stringFieldIndex(key string) int {
	for i, k := range stringKeys {
		if k == key {
			return i
		}
	}
	return -1
}

// stringField is the string field of e that stringKeys[i] names.
func stringField(e *Event, i int) *string {
	return [...]*string{&e.Event, &e.Code, &e.Cluster, &e.Error, &e.SessionID, &e.User, &e.SpiffeID, &e.ClientAddr,
		&e.DBService, &e.DBProtocol, &e.DBURI, &e.DBUser, &e.DBName, &e.Query, &e.CommandTag, &e.Reason, &e.Target, &e.CAPin}[i]
}

// intField is the integer field of e that key names, nil if none.
func intField(e *Event, key string) *int64 {
	switch key {
	case "ei":
		return &e.Index
	case "rows_affected":
		return &e.RowsAffected
	case "duration_ms":
		return &e.DurationMS
	case "bytes_in":
		return &e.BytesIn
	case "bytes_out":
		return &e.BytesOut
	}
	return nil
}

// queue appends a JSON string's text for a string field (or parameter),
// each byte that is not UTF-8 read as U+FFFD, as json.Unmarshal reads
// it.
func (d *Decoder) queue(field, param int, v *fastjson.Value) error {
	b, err := v.StringBytes()
	if err != nil {
		return err
	}
	start := len(d.text)
	if utf8.Valid(b) {
		d.text = append(d.text, b...)
	} else {
		for len(b) > 0 {
			r, n := utf8.DecodeRune(b)
			d.text = utf8.AppendRune(d.text, r)
			b = b[n:]
		}
	}
	d.strings = append(d.strings, pending{field: field, param: param, start: start, end: len(d.text)})
	return nil
}

func setBool(dst *bool, v *fastjson.Value) error {
	b, err := v.Bool()
	*dst = b
	return err
}

var errNotTime = errors.New("not an RFC 3339 time string")

func setTime(t *time.Time, v *fastjson.Value) error {
	b, err := v.StringBytes()
	if err != nil {
		return errNotTime
	}
	return t.UnmarshalText(b)
}
