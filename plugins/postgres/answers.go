package postgres

import (
	"strconv"
	"strings"
)

// maxErrorText bounds the message of an ErrorResponse kept in an event.
const maxErrorText = 8 << 10

// serverError is what an event keeps of an ErrorResponse.
type serverError struct{ code, message string }

// errorFields reads the SQLSTATE and message of an ErrorResponse body,
// which may be cut: what is there is used.
func errorFields(body []byte) serverError {
	var e serverError
	f := wholeFields(body)
	for {
		kind := f.byte1()
		if f.bad || kind == 0 {
			return e
		}
		v, _ := f.cstring(maxErrorText)
		switch kind {
		case 'C':
			e.code = v
		case 'M':
			e.message = v
		}
	}
}

// commandTag reads a CommandComplete body.
func commandTag(body []byte) string {
	tag, _ := wholeFields(body).cstring(maxErrorText)
	return tag
}

// rowsAffected reads the count at the end of a command tag such as
// "INSERT 0 3" or "UPDATE 5".
func rowsAffected(tag string) int64 {
	i := strings.LastIndexByte(tag, ' ')
	if i < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(tag[i+1:], 10, 64)
	return n
}
