package postgres

import "strconv"

// lose records, once, that the tracker lost track: each statement still
// queued may or may not have run, and is recorded so.
func (t *tracker) lose(err error) {
	if t.lost != nil {
		return
	}
	t.lost = err
	why := "outcome unknown: " + err.Error()
	// An Execute is recorded with what it would run, including what the
	// Parse and Bind queued before it would have made.
	stmts, ports := map[string]statement{}, map[string]portal{}
	for _, r := range t.queue {
		switch r.typ {
		case 'P':
			stmts[r.name] = statement{text: r.text, cut: r.cut}
		case 'B':
			s, ok := stmts[r.stmt]
			if !ok {
				s = t.statements[r.stmt]
			}
			ports[r.name] = portal{text: s.text, params: r.params, cut: s.cut || r.cut}
		case 'Q':
			t.skipped(sdkQuery, codeOutcomeUnknown, r.text, nil, r.cut, why)
		case 'F':
			t.skipped(sdkStatement, codeOutcomeUnknown, r.text, r.params, r.cut, why)
		case 'E':
			p, ok := ports[r.name]
			if !ok {
				p = t.portals[r.name]
			}
			t.skipped(sdkStatement, codeOutcomeUnknown, p.text, p.params, p.cut, why)
		}
	}
	t.remove(0, len(t.queue))
}

// completed records a statement the server completed: body is its
// CommandComplete, or nothing for EmptyQueryResponse ('I'),
// PortalSuspended ('s') and FunctionCallResponse ('V').
func (t *tracker) completed(name, code, text string, params []string, cut bool, target string, body []byte, typ byte) {
	e := t.a.Event(name, code, true)
	e.Query, e.Parameters, e.Truncated, e.Target = text, params, cut, target
	switch typ {
	case 'C':
		e.CommandTag = commandTag(body)
		e.RowsAffected = rowsAffected(e.CommandTag)
	case 's':
		e.Reason = "portal suspended: the Execute's row limit was reached"
	}
	t.a.Emit(e)
}

// failed records a message the server answered with an ErrorResponse;
// target names a portal the tracker does not know, reason adds context.
func (t *tracker) failed(name, code, text string, params []string, cut bool, target, reason string, body []byte) {
	e := t.a.Event(name, code, false)
	e.Query, e.Parameters, e.Truncated, e.Target, e.Reason = text, params, cut, target, reason
	f := errorFields(body)
	e.Error = f.code + ": " + f.message
	t.a.Emit(e)
}

// skipped records a statement the server did not run.
func (t *tracker) skipped(name, code, text string, params []string, cut bool, why string) {
	e := t.a.Event(name, code, false)
	e.Query, e.Parameters, e.Truncated, e.Error = text, params, cut, why
	t.a.Emit(e)
}

// functionCallText describes a FunctionCall, which carries no SQL.
func functionCallText(oid uint32) string {
	return "-- FunctionCall: function OID " + strconv.FormatUint(uint64(oid), 10)
}
