package wire

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Commands a client sends after the connection phase.
const (
	ComQuit            byte = 0x01
	ComInitDB          byte = 0x02
	ComQuery           byte = 0x03
	ComFieldList       byte = 0x04
	ComStatistics      byte = 0x09
	ComProcessKill     byte = 0x0c
	ComPing            byte = 0x0e
	ComChangeUser      byte = 0x11
	ComBinlogDump      byte = 0x12
	ComStmtPrepare     byte = 0x16
	ComStmtExecute     byte = 0x17
	ComStmtLongData    byte = 0x18
	ComStmtClose       byte = 0x19
	ComStmtReset       byte = 0x1a
	ComSetOption       byte = 0x1b
	ComStmtFetch       byte = 0x1c
	ComResetConnection byte = 0x1f
	ComStmtBulkExecute byte = 0xfa
)

// PrepareOK is the server's answer to COM_STMT_PREPARE.
type PrepareOK struct {
	StatementID uint32
	Columns     uint16
	Params      uint16
}

// ParsePrepareOK reads the first packet of a successful prepare.
func ParsePrepareOK(p []byte) (*PrepareOK, error) {
	d := decoder{b: p}
	if d.uint8() != okHeader {
		return nil, errors.New("not a prepare OK packet")
	}
	r := &PrepareOK{StatementID: d.uint32(), Columns: d.uint16(), Params: d.uint16()}
	if d.err != nil {
		return nil, fmt.Errorf("reading a prepare OK packet: %w", d.err)
	}
	return r, nil
}

// StatementID reads the statement a COM_STMT_EXECUTE, _CLOSE, _RESET,
// _SEND_LONG_DATA or _FETCH names.
func StatementID(p []byte) (uint32, error) {
	if len(p) < 5 {
		return 0, errShort
	}
	return uint32At(p[1:5]), nil
}

// Column types of the binary protocol.
const (
	TypeDecimal    byte = 0
	TypeTiny       byte = 1
	TypeShort      byte = 2
	TypeLong       byte = 3
	TypeFloat      byte = 4
	TypeDouble     byte = 5
	TypeNull       byte = 6
	TypeTimestamp  byte = 7
	TypeLongLong   byte = 8
	TypeInt24      byte = 9
	TypeDate       byte = 10
	TypeTime       byte = 11
	TypeDateTime   byte = 12
	TypeYear       byte = 13
	TypeVarchar    byte = 15
	TypeBit        byte = 16
	TypeJSON       byte = 245
	TypeNewDecimal byte = 246
	TypeEnum       byte = 247
	TypeSet        byte = 248
	TypeTinyBlob   byte = 249
	TypeMediumBlob byte = 250
	TypeLongBlob   byte = 251
	TypeBlob       byte = 252
	TypeVarString  byte = 253
	TypeString     byte = 254
	TypeGeometry   byte = 255
)

// ParamType is a bound parameter's type: the type byte and whether it is
// unsigned.
type ParamType struct {
	Type     byte
	Unsigned bool
}

// Execute is a COM_STMT_EXECUTE with its parameters read as text.
type Execute struct {
	StatementID uint32
	Flags       byte
	// Params are the bound values as text; nil for NULL.
	Params []*string
	// Types are the parameters' types: those the packet sent, or the
	// ones it was given because the client sent none this time.
	Types []ParamType
}

// ParseExecute reads a COM_STMT_EXECUTE for a statement of nParams
// parameters. prev are the types bound by the statement's previous
// execution, which a client need not send again.
func ParseExecute(p []byte, nParams int, prev []ParamType) (*Execute, error) {
	d := decoder{b: p}
	d.uint8() // the command
	e := &Execute{StatementID: d.uint32(), Flags: d.uint8()}
	d.uint32() // iteration count, always 1
	if d.err != nil {
		return nil, fmt.Errorf("reading COM_STMT_EXECUTE: %w", d.err)
	}
	if nParams == 0 {
		return e, nil
	}
	nulls := d.bytes((nParams + 7) / 8)
	bound := d.uint8()
	e.Types = prev
	if bound == 1 {
		e.Types = make([]ParamType, nParams)
		for i := range e.Types {
			t := d.uint16()
			e.Types[i] = ParamType{Type: byte(t), Unsigned: t&0x8000 != 0}
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("reading COM_STMT_EXECUTE: %w", d.err)
	}
	if len(e.Types) != nParams {
		return nil, errors.New("COM_STMT_EXECUTE sends no parameter types and none were bound before")
	}
	e.Params = make([]*string, nParams)
	for i, t := range e.Types {
		if nulls[i/8]&(1<<(i%8)) != 0 || t.Type == TypeNull {
			continue
		}
		v := readBinaryValue(&d, t)
		if d.err != nil {
			return nil, fmt.Errorf("reading parameter %d of COM_STMT_EXECUTE: %w", i+1, d.err)
		}
		e.Params[i] = &v
	}
	return e, nil
}

// readBinaryValue reads one value of the binary protocol as text.
func readBinaryValue(d *decoder, t ParamType) string {
	signed := func(v int64, u uint64) string {
		if t.Unsigned {
			return strconv.FormatUint(u, 10)
		}
		return strconv.FormatInt(v, 10)
	}
	switch t.Type {
	case TypeTiny:
		v := d.uint8()
		return signed(int64(int8(v)), uint64(v))
	case TypeShort, TypeYear:
		v := d.uint16()
		return signed(int64(int16(v)), uint64(v))
	case TypeLong, TypeInt24:
		v := d.uint32()
		return signed(int64(int32(v)), uint64(v))
	case TypeLongLong:
		v := d.uint64()
		return signed(int64(v), v)
	case TypeFloat:
		return strconv.FormatFloat(float64(math.Float32frombits(d.uint32())), 'g', -1, 32)
	case TypeDouble:
		return strconv.FormatFloat(math.Float64frombits(d.uint64()), 'g', -1, 64)
	case TypeDate, TypeDateTime, TypeTimestamp:
		return readDateTime(d)
	case TypeTime:
		return readTime(d)
	}
	// Every other type travels as a length-encoded string.
	return string(d.lenencBytes())
}

// readDateTime reads a DATE, DATETIME or TIMESTAMP value.
func readDateTime(d *decoder) string {
	b := d.bytes(int(d.uint8()))
	switch len(b) {
	case 0:
		return "0000-00-00 00:00:00"
	case 4, 7, 11:
	default:
		d.fail()
		return ""
	}
	s := fmt.Sprintf("%04d-%02d-%02d", uint16At(b), b[2], b[3])
	if len(b) >= 7 {
		s += fmt.Sprintf(" %02d:%02d:%02d", b[4], b[5], b[6])
	}
	if len(b) == 11 {
		s += fmt.Sprintf(".%06d", uint32At(b[7:]))
	}
	return s
}

// readTime reads a TIME value.
func readTime(d *decoder) string {
	b := d.bytes(int(d.uint8()))
	switch len(b) {
	case 0:
		return "00:00:00"
	case 8, 12:
	default:
		d.fail()
		return ""
	}
	sign := ""
	if b[0] == 1 {
		sign = "-"
	}
	hours := uint32At(b[1:5])*24 + uint32(b[5])
	s := fmt.Sprintf("%s%02d:%02d:%02d", sign, hours, b[6], b[7])
	if len(b) == 12 {
		s += fmt.Sprintf(".%06d", uint32At(b[8:]))
	}
	return s
}
