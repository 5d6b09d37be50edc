package postgres

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// resetQuery returns a server connection to the state of a new session:
// settings, temporary tables, prepared statements, listeners, advisory
// locks and the rest of the session's state are dropped.
const resetQuery = "DISCARD ALL"

// reset runs DISCARD ALL on sc and records the parameters the server
// reports changed. Any error, a transaction left open or an answer out
// of place fails it, and the connection must then be closed.
func reset(sc *serverConn, timeout time.Duration) error {
	c := sc.conn
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write(encodeMessage('Q', append([]byte(resetQuery), 0))); err != nil {
		return fmt.Errorf("sending %s: %w", resetQuery, err)
	}
	completed := false
	for {
		typ, body, err := readMessage(c)
		if err != nil {
			return fmt.Errorf("reading the answer to %s: %w", resetQuery, err)
		}
		switch typ {
		case 'C':
			completed = string(bytes.TrimRight(body, "\x00")) == resetQuery
		case 'S':
			name, value, ok := parameterStatus(body)
			if ok {
				sc.setParam(name, value)
			}
		case 'N':
		case 'E':
			return fmt.Errorf("%s failed: %s", resetQuery, errorText(body))
		case 'Z':
			if !completed || len(body) != 1 || body[0] != 'I' {
				return fmt.Errorf("%s did not leave the connection idle (status %q)", resetQuery, body)
			}
			return c.SetDeadline(time.Time{})
		default:
			return fmt.Errorf("%s was answered with message %q", resetQuery, typ)
		}
	}
}

// setParam records a ParameterStatus, keeping the server's order.
func (sc *serverConn) setParam(name, value string) {
	for i := range sc.params {
		if sc.params[i].name == name {
			sc.params[i].value = value
			return
		}
	}
	sc.params = append(sc.params, paramStatus{name, value})
}

// parameterStatus decodes a ParameterStatus body.
func parameterStatus(body []byte) (name, value string, ok bool) {
	n, rest, ok := bytes.Cut(body, []byte{0})
	if !ok {
		return "", "", false
	}
	v, _, ok := bytes.Cut(rest, []byte{0})
	return string(n), string(v), ok
}

// errorText is the message field of an ErrorResponse body.
func errorText(body []byte) string {
	for len(body) > 1 {
		code := body[0]
		v, rest, ok := bytes.Cut(body[1:], []byte{0})
		if !ok {
			break
		}
		if code == 'M' {
			return string(v)
		}
		body = rest
	}
	return "the server gave no message"
}

// greetingParams reads the ParameterStatus messages of a login greeting.
func greetingParams(greeting []byte) []paramStatus {
	var out []paramStatus
	for len(greeting) >= 5 {
		n := int(binary.BigEndian.Uint32(greeting[1:5]))
		if n < 4 || 1+n > len(greeting) {
			break
		}
		if greeting[0] == 'S' {
			if name, value, ok := parameterStatus(greeting[5 : 1+n]); ok {
				out = append(out, paramStatus{name, value})
			}
		}
		greeting = greeting[1+n:]
	}
	return out
}

// writeGreeting tells a client its session started on a pooled
// connection, as a login would: AuthenticationOk, the server's
// parameters, the cancel key keyway gives it, ReadyForQuery.
func writeGreeting(w io.Writer, sc *serverConn, key cancelKey) error {
	var b bytes.Buffer
	b.Write(encodeMessage('R', []byte{0, 0, 0, 0}))
	for _, p := range sc.params {
		b.Write(encodeMessage('S', []byte(p.name+"\x00"+p.value+"\x00")))
	}
	k := make([]byte, 8)
	binary.BigEndian.PutUint32(k[:4], key.pid)
	binary.BigEndian.PutUint32(k[4:], key.secret)
	b.Write(encodeMessage('K', k))
	b.Write(encodeMessage('Z', []byte{'I'}))
	_, err := w.Write(b.Bytes())
	return err
}

// relayConns returns the connections the relay should use for a session
// on sc: wrapped by a lease when the connection may go back to the pool.
func relayConns(client net.Conn, sc *serverConn, pooled bool) (net.Conn, net.Conn, *lease) {
	if !pooled {
		return client, sc.conn, nil
	}
	l := newLease(sc.conn)
	return l.client(client), l.server(), l
}
