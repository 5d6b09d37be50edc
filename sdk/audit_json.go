package sdk

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e as JSON, byte for byte what a json.Encoder that
// does not escape HTML writes of it (without the newline), and without
// reflection: the audit pipe encodes one event per statement, so this
// is on every audited statement's path, and a host writes its own
// events with it. <, > and & stay as they are, so that an audit file
// reads well with grep.
func (e *AuditEvent) AppendJSON(b []byte) ([]byte, error) {
	if !jsonTime(e.Time) || (e.GraceEnds != nil && !jsonTime(*e.GraceEnds)) {
		// encoding/json refuses such a time; let it say why.
		_, err := json.Marshal(e)
		return b, err
	}
	b = append(b, `{"event":`...)
	b = appendJSONString(b, e.Event)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, e.Code)
	b = append(b, `,"time":`...)
	b = appendJSONTime(b, e.Time)
	b = append(b, `,"cluster":`...)
	b = appendJSONString(b, e.Cluster)
	b = append(b, `,"success":`...)
	b = strconv.AppendBool(b, e.Success)
	b = appendOptString(b, `,"error":`, e.Error)
	b = appendOptString(b, `,"sid":`, e.SessionID)
	b = appendOptInt(b, `,"ei":`, e.Index)
	b = appendOptString(b, `,"user":`, e.User)
	b = appendOptString(b, `,"spiffe_id":`, e.SpiffeID)
	b = appendOptString(b, `,"client_addr":`, e.ClientAddr)
	b = appendOptString(b, `,"db_service":`, e.DBService)
	b = appendOptString(b, `,"db_protocol":`, e.DBProtocol)
	b = appendOptString(b, `,"db_uri":`, e.DBURI)
	b = appendOptString(b, `,"db_user":`, e.DBUser)
	b = appendOptString(b, `,"db_name":`, e.DBName)
	b = appendOptString(b, `,"query":`, e.Query)
	if len(e.Parameters) > 0 {
		b = append(b, `,"parameters":[`...)
		for i, p := range e.Parameters {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, p)
		}
		b = append(b, ']')
	}
	if e.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	b = appendOptInt(b, `,"rows_affected":`, e.RowsAffected)
	b = appendOptString(b, `,"command_tag":`, e.CommandTag)
	b = appendOptInt(b, `,"duration_ms":`, e.DurationMS)
	b = appendOptInt(b, `,"bytes_in":`, e.BytesIn)
	b = appendOptInt(b, `,"bytes_out":`, e.BytesOut)
	b = appendOptString(b, `,"reason":`, e.Reason)
	b = appendOptString(b, `,"target":`, e.Target)
	b = appendOptString(b, `,"ca_pin":`, e.CAPin)
	if e.GraceEnds != nil {
		b = append(b, `,"grace_ends":`...)
		b = appendJSONTime(b, *e.GraceEnds)
	}
	return append(b, '}'), nil
}

// jsonTime reports whether encoding/json accepts t: a year of four
// digits.
func jsonTime(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

func appendOptInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), n, 10)
}

const lowerHex = "0123456789abcdef"

// jsonPlain marks the ASCII bytes appendJSONString copies as they are:
// a lookup per byte, since every audited statement's text passes here.
// It is never written after it is made.
var jsonPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string the way a json.Encoder
// that does not escape HTML writes it: quotes and backslashes escaped,
// the control characters with their short escape where JSON has one and
// as \u00XX otherwise, U+2028 and U+2029 escaped, and each byte of
// invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	plain := 0 // the start of the run not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			var esc string
			switch {
			case c == '"':
				esc = `\"`
			case c == '\\':
				esc = `\\`
			case c == '\n':
				esc = `\n`
			case c == '\r':
				esc = `\r`
			case c == '\t':
				esc = `\t`
			case c == '\b':
				esc = `\b`
			case c == '\f':
				esc = `\f`
			case c < 0x20:
				b = append(append(b, s[plain:i]...), '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xf])
				i++
				plain = i
				continue
			default:
				i++
				continue
			}
			b = append(append(b, s[plain:i]...), esc...)
			i++
			plain = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[plain:i]...), `\ufffd`...)
		case r == '\u2028':
			b = append(append(b, s[plain:i]...), `\u2028`...)
		case r == '\u2029':
			b = append(append(b, s[plain:i]...), `\u2029`...)
		default:
			i += size
			continue
		}
		i += size
		plain = i
	}
	b = append(b, s[plain:]...)
	return append(b, '"')
}
