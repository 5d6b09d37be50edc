package postgres

import "fmt"

// endCopy places the client messages a COPY FROM STDIN read, once the
// server ended it: with CommandComplete (ok) or an ErrorResponse of
// SQLSTATE code. The messages the COPY may have read follow the head:
// Syncs (which it ignores), CopyDone and CopyFail.
//
// It returns what to record after the COPY's own event: a message the
// COPY refused.
func (t *tracker) endCopy(ok bool, code string) (func(), error) {
	t.copyIn = false
	i := 1
	for i < len(t.queue) && (t.queue[i].typ == 'S' || t.queue[i].typ == 'c' || t.queue[i].typ == 'f') {
		i++
	}
	if ok {
		// It read through the first CopyDone, ignoring Syncs before it.
		for j := 1; j < i; j++ {
			switch t.queue[j].typ {
			case 'c':
				t.remove(1, j+1)
				return nil, nil
			case 'f':
				return nil, fmt.Errorf("%w: a COPY completed after CopyFail", errLostTrack)
			}
		}
		return nil, fmt.Errorf("%w: a COPY completed before CopyDone", errLostTrack)
	}
	if code == stateProtocolViolation && i < len(t.queue) {
		// It read a message that has no place in a COPY, and refused
		// it together with the COPY.
		x := t.queue[i]
		p := t.portals[x.name]
		t.remove(1, i+1)
		const why = "not executed: PostgreSQL read it inside a COPY FROM STDIN and refused it with the COPY"
		return func() {
			switch x.typ {
			case 'Q':
				t.skipped(sdkQuery, codeQuerySkipped, x.text, nil, x.cut, why)
			case 'F':
				t.skipped(sdkStatement, codeFunctionSkipped, x.text, x.params, x.cut, why)
			case 'E':
				t.skipped(sdkStatement, codeStatementSkipped, p.text, p.params, p.cut, why)
			}
		}, nil
	}
	// It stopped reading at the error, before the first CopyDone or
	// CopyFail, which the server ignores outside a COPY; each Sync before
	// them it may or may not have read.
	kept := t.queue[:1]
	for j := 1; j < i; j++ {
		r := t.queue[j]
		if r.typ == 'S' {
			r.soft = true
			kept = append(kept, r)
		} else {
			t.used -= r.cost()
		}
	}
	kept = append(kept, t.queue[i:]...)
	clear(t.queue[len(kept):])
	t.queue = kept
	return nil, nil
}

// laterSyncAfterStatement reports whether the queue holds, after its
// head, a message other than Sync, CopyDone or CopyFail followed by a
// Sync.
func (t *tracker) laterSyncAfterStatement() bool {
	foreign := false
	for _, r := range t.queue[1:] {
		switch r.typ {
		case 'S':
			if foreign {
				return true
			}
		case 'c', 'f':
		default:
			foreign = true
		}
	}
	return false
}
