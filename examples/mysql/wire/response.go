package wire

import (
	"encoding/binary"
	"fmt"
)

// First bytes of a server's generic responses.
const (
	okHeader  = 0x00
	eofHeader = 0xfe
	errHeader = 0xff
)

// Error is an ERR packet: what the server, or keyway in the server's
// place, tells the client went wrong.
type Error struct {
	Code     uint16
	SQLState string
	Message  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("ERROR %d (%s): %s", e.Code, e.SQLState, e.Message)
}

// Error codes keyway sends in the server's place.
const (
	ErAccessDenied     uint16 = 1045 // SQLSTATE 28000
	ErDBAccessDenied   uint16 = 1044 // SQLSTATE 42000
	ErBadDB            uint16 = 1049 // SQLSTATE 42000
	ErHandshake        uint16 = 1043 // SQLSTATE 08S01
	ErConnectionFailed uint16 = 2003 // client-side code, used for an unreachable database
	ErServerShutdown   uint16 = 1053 // SQLSTATE 08S01
	ErPacketTooLarge   uint16 = 1153 // SQLSTATE 08S01
	ErConnectionKilled uint16 = 1927 // SQLSTATE 70100
	ErTooManyUserConns uint16 = 1203 // SQLSTATE 42000
	ErSecureTransport  uint16 = 3159 // SQLSTATE HY000
)

// IsError reports whether a response payload is an ERR packet.
func IsError(p []byte) bool { return len(p) > 0 && p[0] == errHeader }

// ParseError reads an ERR packet. Without protocol 4.1 it has no SQLSTATE.
func ParseError(p []byte, caps uint32) *Error {
	d := decoder{b: p}
	d.uint8()
	e := &Error{Code: d.uint16()}
	if caps&ClientProtocol41 != 0 && len(d.b) > 0 && d.b[0] == '#' {
		d.uint8()
		e.SQLState = string(d.bytes(5))
	}
	e.Message = string(d.rest())
	return e
}

// Append encodes the error as an ERR packet for a 4.1 client.
func (e *Error) Append(b []byte) []byte {
	b = append(b, errHeader)
	b = binary.LittleEndian.AppendUint16(b, e.Code)
	state := e.SQLState
	if len(state) != 5 {
		state = "HY000"
	}
	b = append(append(b, '#'), state...)
	return append(b, e.Message...)
}

// OK is an OK packet, or the OK-style EOF that ends a result set under
// ClientDeprecateEOF.
type OK struct {
	AffectedRows uint64
	LastInsertID uint64
	Status       uint16
	Warnings     uint16
	Info         string
}

// Server status flags the plugin reads.
const (
	StatusMoreResultsExist uint16 = 0x0008
)

// IsOK reports whether a response payload is an OK packet (an EOF
// header with a long payload is an OK under ClientDeprecateEOF).
func IsOK(p []byte) bool {
	return len(p) > 0 && (p[0] == okHeader || p[0] == eofHeader && len(p) >= 9)
}

// IsEOF reports whether a payload is a classic EOF packet.
func IsEOF(p []byte) bool { return len(p) > 0 && len(p) < 9 && p[0] == eofHeader }

// ParseOK reads an OK packet.
func ParseOK(p []byte, caps uint32) (*OK, error) {
	d := decoder{b: p}
	d.uint8()
	ok := &OK{}
	ok.AffectedRows, _ = d.lenencInt()
	ok.LastInsertID, _ = d.lenencInt()
	if caps&ClientProtocol41 != 0 {
		ok.Status = d.uint16()
		ok.Warnings = d.uint16()
	}
	if d.err != nil {
		return nil, fmt.Errorf("reading an OK packet: %w", d.err)
	}
	if caps&ClientSessionTrack != 0 {
		ok.Info = string(d.lenencBytes())
	} else {
		ok.Info = string(d.rest())
	}
	return ok, nil
}

// Append encodes the OK packet for a 4.1 client.
func (ok *OK) Append(b []byte) []byte {
	b = append(b, okHeader)
	b = appendLenencInt(b, ok.AffectedRows)
	b = appendLenencInt(b, ok.LastInsertID)
	b = binary.LittleEndian.AppendUint16(b, ok.Status)
	b = binary.LittleEndian.AppendUint16(b, ok.Warnings)
	return append(b, ok.Info...)
}

// EOFStatus reads the status flags of a classic EOF packet.
func EOFStatus(p []byte) uint16 {
	if len(p) < 5 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[3:5])
}
