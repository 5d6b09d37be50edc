package postgres

import (
	"encoding/base64"
	"unicode/utf8"
)

// maxAuditedText is how much of a statement's text an event records;
// longer text is cut there and the event says truncated. The whole
// statement still goes to the server.
const maxAuditedText = 1 << 20

// request is what the tracker keeps of one client message until the
// server has answered it: the fields an audit event needs, each bounded.
type request struct {
	typ byte
	// name is the statement of a Parse, the portal of an Execute, or the
	// object of a Describe or Close; stmt is the statement a Bind uses.
	name, stmt string
	// kind is 'S' (statement) or 'P' (portal) for Describe and Close.
	kind byte
	// text is the statement text of a Query or Parse, or a FunctionCall's
	// description.
	text string
	// params are a Bind's or FunctionCall's values, rendered and cut.
	params []string
	// cut says text or a parameter was cut.
	cut bool
	// malformed says the body does not decode; the server refuses it.
	malformed bool
	// soft marks a Sync the server may have read inside a COPY.
	soft bool
}

// cost is roughly what the request holds in memory.
func (r *request) cost() int {
	n := 64 + len(r.text) + len(r.name) + len(r.stmt)
	for _, p := range r.params {
		n += 16 + len(p)
	}
	return n
}

// decodesBody names the client messages whose fields the tracker reads;
// of the others it needs only the type.
func decodesBody(typ byte) bool {
	switch typ {
	case 'Q', 'P', 'B', 'E', 'F', 'D', 'C':
		return true
	}
	return false
}

// decodeRequest reads the fields of a client message the tracker reads,
// cutting text at maxAuditedText and values at maxParam.
func decodeRequest(typ byte, f *fieldReader, maxParam int) request {
	r := request{typ: typ}
	switch typ {
	case 'Q':
		r.text, r.cut = f.cstring(maxAuditedText)
	case 'P':
		r.name, _ = f.cstring(maxAuditedText)
		r.text, r.cut = f.cstring(maxAuditedText)
		n := int(f.uint16())
		_ = f.bytes(4*n, 0)
	case 'B':
		r.name, _ = f.cstring(maxAuditedText)
		r.stmt, _ = f.cstring(maxAuditedText)
		formats := readFormats(f)
		r.params, r.cut = readValues(f, formats, maxParam)
		_ = readFormats(f) // result formats
	case 'E':
		r.name, _ = f.cstring(maxAuditedText)
		_ = f.int32()
	case 'D', 'C':
		r.kind = f.byte1()
		r.name, _ = f.cstring(maxAuditedText)
	case 'F':
		oid := uint32(f.int32())
		formats := readFormats(f)
		r.params, r.cut = readValues(f, formats, maxParam)
		_ = f.uint16() // result format
		r.text = functionCallText(oid)
	}
	r.malformed = !f.atEnd()
	return r
}

// readFormats reads a list of format codes.
func readFormats(f *fieldReader) []uint16 {
	n := int(f.uint16())
	out := make([]uint16, 0, min(n, 64))
	for range n {
		if f.bad {
			break
		}
		out = append(out, f.uint16())
	}
	return out
}

// readValues reads length-prefixed values and renders each: text as text,
// binary (or text that is not UTF-8) as base64, each cut at maxParam
// bytes; cut says some value was.
func readValues(f *fieldReader, formats []uint16, maxParam int) ([]string, bool) {
	n := int(f.uint16())
	out := make([]string, 0, min(n, 64))
	cut := false
	for i := range n {
		if f.bad {
			break
		}
		size := f.int32()
		if size < 0 {
			out = append(out, "NULL")
			continue
		}
		v := f.bytes(int(size), maxParam)
		if int(size) > len(v) {
			cut = true
		}
		binary := len(formats) == 1 && formats[0] == 1 || len(formats) > i && formats[i] == 1
		if binary || !utf8.Valid(v) {
			out = append(out, base64.StdEncoding.EncodeToString(v))
		} else {
			out = append(out, string(v))
		}
	}
	return out, cut
}
