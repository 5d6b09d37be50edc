package file

import (
	"bytes"
	"encoding/json"

	"github.com/valyala/fastjson"
)

// fastDepth bounds the nesting fastjson, which recurses without a limit,
// is given; an object that might nest deeper is checked by encoding/json,
// which stops at its own limit.
const fastDepth = 1000

// lineObject reports whether o is one JSON object that stays on one line
// of the file: valid JSON, starting with '{', holding no line break
// (encoders escape them inside strings, so only whitespace between
// tokens could hold one). Plugins send their events encoded; this is
// checked for every event, so the common case takes the faster
// validator.
func lineObject(o []byte) bool {
	if len(o) == 0 || o[0] != '{' || bytes.IndexByte(o, '\n') >= 0 || bytes.IndexByte(o, '\r') >= 0 {
		return false
	}
	if bytes.Count(o, []byte{'{'})+bytes.Count(o, []byte{'['}) > fastDepth {
		return json.Valid(o)
	}
	return fastjson.ValidateBytes(o) == nil
}
