package auditring

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapFlags maps a ring shared, with its pages in memory from the start:
// the ring's memory is a fixed cost of each plugin, not one that grows
// with the first sessions' events.
const mapFlags = unix.MAP_SHARED | unix.MAP_POPULATE

// Create makes a ring whose data area holds capacity bytes (a power of
// two) in an anonymous memory file. It returns the mapping, for
// NewReader, and the file, whose descriptor goes to the plugin; the
// caller closes the file once the plugin has its copy and unmaps mem
// with the reader's Close.
func Create(capacity int) (mem []byte, f *os.File, err error) {
	if capacity <= 0 || capacity&(capacity-1) != 0 {
		return nil, nil, fmt.Errorf("audit ring capacity %d is not a power of two", capacity)
	}
	fd, err := unix.MemfdCreate("keyway-audit-ring", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the audit ring: %w", err)
	}
	f = os.NewFile(uintptr(fd), "audit-ring")
	size := HeaderSize + capacity
	if err := f.Truncate(int64(size)); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("sizing the audit ring: %w", err)
	}
	mem, err = unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, mapFlags)
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("mapping the audit ring: %w", err)
	}
	format(mem)
	return mem, f, nil
}
