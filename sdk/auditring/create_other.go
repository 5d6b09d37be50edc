//go:build !linux

package auditring

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// mapFlags maps a ring shared.
const mapFlags = unix.MAP_SHARED

// Create is not available off Linux: plugins there write their events
// into the audit pipe itself.
func Create(int) ([]byte, *os.File, error) {
	return nil, nil, errors.New("audit rings need Linux's memory files")
}
