package sdk

import (
	"context"
	"io"
	"net"
	"time"
)

// stringConn is a net.Conn that only reads.
type stringConn struct{ r io.Reader }

func (c stringConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (stringConn) Write(p []byte) (int, error)        { return len(p), nil }
func (stringConn) Close() error                       { return nil }
func (stringConn) LocalAddr() net.Addr                { return nil }
func (stringConn) RemoteAddr() net.Addr               { return nil }
func (stringConn) SetDeadline(_ time.Time) error      { return nil }
func (stringConn) SetReadDeadline(_ time.Time) error  { return nil }
func (stringConn) SetWriteDeadline(_ time.Time) error { return nil }

// notAProtocol is a plugin that claims no kind interface.
type notAProtocol struct{}

func (notAProtocol) Info() Info                                        { return Info{Name: "x"} }
func (notAProtocol) ConfigSchema() Schema                              { return Schema{} }
func (notAProtocol) Configure(context.Context, ConfigureRequest) error { return nil }
func (notAProtocol) Health(context.Context) error                      { return nil }
