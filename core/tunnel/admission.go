package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxRefusal bounds a refusal's sentence on the wire.
const maxRefusal = 4096

// WriteAdmission answers a keyway-db session before its bytes flow: an
// empty refusal admits it; otherwise the refusal is a sentence for the
// person whose client connected, and the proxy closes the connection.
func WriteAdmission(w io.Writer, refusal string) error {
	if refusal == "" {
		_, err := w.Write([]byte{0})
		return err
	}
	if len(refusal) > maxRefusal {
		refusal = refusal[:maxRefusal]
	}
	b := binary.BigEndian.AppendUint16([]byte{1}, uint16(len(refusal)))
	_, err := w.Write(append(b, refusal...))
	return err
}

// ErrRefused wraps the proxy's refusal of a keyway-db session.
var ErrRefused = errors.New("the proxy refused the session")

// ReadAdmission reads the proxy's answer to a keyway-db session: nil when
// admitted, an error wrapping ErrRefused with the proxy's sentence when
// refused.
func ReadAdmission(r io.Reader) error {
	var b [3]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return fmt.Errorf("reading the proxy's admission: %w", err)
	}
	switch b[0] {
	case 0:
		return nil
	case 1:
	default:
		return fmt.Errorf("the proxy answered the session with %#x, not an admission", b[0])
	}
	if _, err := io.ReadFull(r, b[1:]); err != nil {
		return fmt.Errorf("reading the proxy's refusal: %w", err)
	}
	n := binary.BigEndian.Uint16(b[1:])
	if n > maxRefusal {
		return fmt.Errorf("a refusal of %d bytes exceeds %d", n, maxRefusal)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return fmt.Errorf("reading the proxy's refusal: %w", err)
	}
	return fmt.Errorf("%w: %s", ErrRefused, msg)
}
