// Package engine is the MySQL plugin's session logic: the connection
// phase on both sides, the relay, and the tracker that turns commands and
// answers into audit outcomes.
package engine

import (
	"fmt"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
)

// A tracker follows a session's commands and the server's answers to
// them, in order, and says what each command did. Clients may send
// several commands before reading the answers (pipelining), so commands
// wait in a queue; each answer belongs to the oldest command that still
// expects one. Commands without an answer (COM_STMT_CLOSE,
// COM_STMT_SEND_LONG_DATA) complete at once.
type tracker struct {
	// deprecateEOF: result sets end with an OK packet, not EOF packets.
	deprecateEOF bool
	// maxParam bounds each bound parameter's text in an event.
	maxParam int

	pending []*command
	// stmts are the session's prepared statements by id.
	stmts map[uint32]*statement
	// lastPrepared is the statement a COM_STMT_EXECUTE for id
	// 0xffffffff means: the last one prepared.
	lastPrepared uint32
}

// statement is a prepared statement.
type statement struct {
	text   string
	params int
	// types are the parameter types last bound.
	types []wire.ParamType
}

// outcome is what one command did, for its audit event.
type outcome struct {
	// Kind is "query", "execute", "prepare", "init_db" or "refused".
	Kind string
	// Text is the statement, or the database of COM_INIT_DB.
	Text      string
	Truncated bool
	// Params are an execution's bound parameters (nil for NULL).
	Params []*string
	// ParamsError says why the parameters could not be read.
	ParamsError string
	Statement   uint32
	// Err is the server's error, nil on success.
	Err *wire.Error
	// Affected counts the rows changed; Rows the rows returned; Results
	// the results of a multi-statement query.
	Affected, Rows uint64
	Results        int
}

// command is a command waiting for, or reading, its answer.
type command struct {
	out   *outcome // nil for commands that are not audited
	kind  byte
	state answerState
	// columns and params left to read in a result set's or a prepare's
	// definitions.
	left int
	// prepare's answer: the statement, and definitions still to come.
	stmt        *statement
	paramDefs   int
	columnDefs  int
	prepareText string
	// raw is an execution's packet, read when its answer starts.
	raw []byte
	// reply is a refused command's ERR packet, written when its turn
	// comes.
	reply *wire.Error
}

// answerState is where an answer is.
type answerState int

const (
	awaitFirst  answerState = iota // nothing read yet
	readColumns                    // column definitions
	columnsEOF                     // the EOF after column definitions
	readRows                       // rows, until EOF/OK or ERR
	prepareDefs                    // a prepare's parameter and column definitions
)

func newTracker(deprecateEOF bool, maxParam int) *tracker {
	return &tracker{deprecateEOF: deprecateEOF, maxParam: maxParam, stmts: map[uint32]*statement{}}
}

// maxPending bounds the commands a pipelining client may send ahead of
// the answers, and so the tracker's memory.
const maxPending = 1024

// fromClient reads a command the client sent. A command keyway does not
// relay gets reply, an ERR packet for the client in the server's place:
// the caller writes it now and does not pass the command on. When earlier
// commands still wait for their answers, the tracker keeps the reply in
// their queue instead, and fromServer hands it over in its turn. done are
// the outcomes of commands complete at once: refusals. An error ends the
// session: the client sent more commands ahead of their answers than
// keyway keeps.
func (t *tracker) fromClient(p []byte, truncated bool) (reply *wire.Error, done []*outcome, err error) {
	if len(t.pending) >= maxPending {
		return nil, nil, fmt.Errorf("the client sent more than %d commands ahead of their answers", maxPending)
	}
	c, refused := t.command(p, truncated)
	if refused != nil {
		out := &outcome{Kind: "refused", Text: commandName(p), Err: refused}
		if len(t.pending) == 0 {
			return refused, []*outcome{out}, nil
		}
		c = &command{reply: refused, out: out}
	}
	if c != nil {
		t.pending = append(t.pending, c)
	}
	return nil, nil, nil
}

// command reads a command: what to queue for its answer (nil for
// commands answered by nothing), or why keyway refuses it.
func (t *tracker) command(p []byte, truncated bool) (*command, *wire.Error) {
	if len(p) == 0 {
		return nil, &wire.Error{Code: wire.ErHandshake, SQLState: "08S01", Message: "keyway: an empty command packet"}
	}
	c := &command{kind: p[0]}
	switch p[0] {
	case wire.ComQuery:
		c.out = &outcome{Kind: "query", Text: string(p[1:]), Truncated: truncated}
	case wire.ComInitDB:
		c.out = &outcome{Kind: "init_db", Text: string(p[1:])}
	case wire.ComStmtPrepare:
		c.prepareText = string(p[1:])
		c.out = &outcome{Kind: "prepare", Text: c.prepareText, Truncated: truncated}
	case wire.ComStmtExecute:
		if truncated {
			return nil, &wire.Error{Code: wire.ErPacketTooLarge, SQLState: "08S01", Message: "keyway: a COM_STMT_EXECUTE larger than keyway reads whole"}
		}
		if len(p) > 5 && p[5]&0x07 != 0 {
			return nil, &wire.Error{Code: 1235, SQLState: "42000", Message: "keyway does not relay server-side cursors; fetch the whole result instead"}
		}
		// The parameters are read when the answer starts: a pipelining
		// client sends an execution before its statement's prepare has
		// been answered, and the types it binds may come from the
		// execution before.
		c.raw = append([]byte(nil), p...)
		c.out = &outcome{Kind: "execute"}
	case wire.ComStmtClose:
		id, _ := wire.StatementID(p)
		delete(t.stmts, id)
		return nil, nil
	case wire.ComStmtLongData, wire.ComQuit:
		return nil, nil
	case wire.ComPing, wire.ComStmtReset, wire.ComResetConnection, wire.ComSetOption,
		wire.ComStatistics, wire.ComFieldList, wire.ComProcessKill:
	default:
		return nil, &wire.Error{Code: 1047, SQLState: "08S01", Message: fmt.Sprintf("keyway does not relay command 0x%02x, which it cannot audit", p[0])}
	}
	return c, nil
}

// commandName names a refused command in its audit event.
func commandName(p []byte) string {
	if len(p) == 0 {
		return "an empty command"
	}
	return fmt.Sprintf("command 0x%02x", p[0])
}

// capParams cuts each parameter's text to maxParam bytes and reports
// whether it cut one.
func (t *tracker) capParams(ps []*string) ([]*string, bool) {
	cut := false
	for i, p := range ps {
		if p != nil && t.maxParam > 0 && len(*p) > t.maxParam {
			v := (*p)[:t.maxParam]
			ps[i], cut = &v, true
		}
	}
	return ps, cut
}

// fromServer reads the start of one packet of an answer (the whole
// payload when it is small: head is at most what the caller buffered,
// length is the packet's full length). It returns the outcomes of the
// commands this packet completes, to be recorded before the packet
// reaches the client, and the replies of refused commands whose turn
// comes after it.
func (t *tracker) fromServer(head []byte, length int) (done []*outcome, replies []*wire.Error) {
	if len(t.pending) == 0 {
		return nil, nil // an answer to nothing: the server is closing, say
	}
	c := t.pending[0]
	if !t.step(c, head, length) {
		return nil, nil
	}
	t.pending = t.pending[1:]
	// A prepare is recorded only when it fails: a prepared statement's
	// record is each execution, with its text and parameters.
	if c.out != nil && (c.kind != wire.ComStmtPrepare || c.out.Err != nil) {
		done = append(done, c.out)
	}
	for len(t.pending) > 0 && t.pending[0].reply != nil {
		r := t.pending[0]
		t.pending = t.pending[1:]
		done, replies = append(done, r.out), append(replies, r.reply)
	}
	return done, replies
}

// step advances a command's answer by one packet and reports whether
// the answer is complete.
func (t *tracker) step(c *command, p []byte, length int) bool {
	switch c.state {
	case awaitFirst:
		if c.raw != nil {
			t.resolveExecute(c)
		}
		switch {
		case wire.IsError(p):
			t.fail(c, p)
			return true
		case c.kind == wire.ComStmtPrepare:
			return t.prepared(c, p)
		case c.kind == wire.ComStatistics:
			return true // a plain string
		case c.kind == wire.ComFieldList:
			c.state = readRows // definitions until EOF
			return false
		case isOK(p, length):
			return t.okResult(c, p)
		case wire.IsEOF(p):
			return true // COM_SET_OPTION's answer
		}
		n, ok := columnCount(p)
		if !ok {
			return true // nothing the tracker knows: take it as the end
		}
		c.left = int(n)
		c.state = readColumns
		return false
	case readColumns:
		c.left--
		if c.left > 0 {
			return false
		}
		if t.deprecateEOF {
			c.state = readRows
		} else {
			c.state = columnsEOF
		}
		return false
	case columnsEOF:
		c.state = readRows
		return false
	case readRows:
		switch {
		case wire.IsError(p):
			t.fail(c, p)
			return true
		case isTerminator(p, length):
			if c.out != nil && c.kind != wire.ComFieldList {
				c.out.Results++
			}
			if terminatorStatus(p, t.deprecateEOF)&wire.StatusMoreResultsExist != 0 {
				c.state = awaitFirst
				return false
			}
			return true
		}
		if c.out != nil {
			c.out.Rows++
		}
		return false
	case prepareDefs:
		c.left--
		if c.left > 0 {
			return false
		}
		return t.nextDefs(c)
	}
	return true
}

// resolveExecute reads an execution's statement and parameters, now
// that every command before it has been answered.
func (t *tracker) resolveExecute(c *command) {
	p := c.raw
	c.raw = nil
	id, _ := wire.StatementID(p)
	if id == 0xffffffff {
		id = t.lastPrepared
	}
	c.out.Statement = id
	st, ok := t.stmts[id]
	if !ok {
		return // the server answers with its own error
	}
	c.out.Text = st.text
	e, err := wire.ParseExecute(p, st.params, st.types)
	if err != nil {
		c.out.ParamsError = err.Error()
		return
	}
	st.types = e.Types
	c.out.Params, c.out.Truncated = t.capParams(e.Params)
}

// okResult records an OK packet as one result of the command.
func (t *tracker) okResult(c *command, p []byte) bool {
	ok, err := wire.ParseOK(p, wire.ClientProtocol41)
	if c.out != nil {
		c.out.Results++
		if err == nil {
			c.out.Affected += ok.AffectedRows
		}
	}
	if err == nil && ok.Status&wire.StatusMoreResultsExist != 0 {
		return false
	}
	return true
}

// fail records the server's error; an error ends a command's answer,
// whatever results came before it.
func (t *tracker) fail(c *command, p []byte) {
	if c.out != nil {
		c.out.Err = wire.ParseError(p, wire.ClientProtocol41)
	}
}

// prepared reads a prepare's first answer packet.
func (t *tracker) prepared(c *command, p []byte) bool {
	ok, err := wire.ParsePrepareOK(p)
	if err != nil {
		return true
	}
	c.stmt = &statement{text: c.prepareText, params: int(ok.Params)}
	t.stmts[ok.StatementID] = c.stmt
	t.lastPrepared = ok.StatementID
	c.out.Statement = ok.StatementID
	c.paramDefs, c.columnDefs = int(ok.Params), int(ok.Columns)
	return t.nextDefs(c)
}

// nextDefs moves a prepare's answer to its next block of definitions,
// each followed by an EOF unless the session deprecated EOF packets.
func (t *tracker) nextDefs(c *command) bool {
	extra := 1
	if t.deprecateEOF {
		extra = 0
	}
	switch {
	case c.paramDefs > 0:
		c.left, c.paramDefs = c.paramDefs+extra, 0
	case c.columnDefs > 0:
		c.left, c.columnDefs = c.columnDefs+extra, 0
	default:
		return true
	}
	c.state = prepareDefs
	return false
}

// isOK tells an OK packet at the start of an answer.
func isOK(p []byte, length int) bool {
	return len(p) > 0 && (p[0] == 0x00 || p[0] == 0xfe && length >= 7 && length < 0xffffff)
}

// isTerminator tells the packet that ends a result set's rows: an EOF
// packet, or under ClientDeprecateEOF an OK packet with the EOF header.
// A row can start with 0xfe only when its first value is longer than
// 16 MiB, and then the packet is a full chunk.
func isTerminator(p []byte, length int) bool {
	return len(p) > 0 && p[0] == 0xfe && length < 0xffffff
}

// terminatorStatus reads a terminator's server status.
func terminatorStatus(p []byte, deprecateEOF bool) uint16 {
	if !deprecateEOF {
		return wire.EOFStatus(p)
	}
	ok, err := wire.ParseOK(p, wire.ClientProtocol41)
	if err != nil {
		return 0
	}
	return ok.Status
}

// columnCount reads the first packet of a result set.
func columnCount(p []byte) (uint64, bool) {
	if len(p) == 0 || p[0] == 0xfb || p[0] == 0xff {
		return 0, false
	}
	switch {
	case p[0] < 0xfb:
		return uint64(p[0]), p[0] > 0
	case p[0] == 0xfc && len(p) >= 3:
		return uint64(p[1]) | uint64(p[2])<<8, true
	case p[0] == 0xfd && len(p) >= 4:
		return uint64(p[1]) | uint64(p[2])<<8 | uint64(p[3])<<16, true
	}
	return 0, false
}
