//go:build !unix

package tunnel

import "net"

// alive cannot tell without reading on this system: a parked data
// connection counts as open.
func alive(net.Conn) bool { return true }
