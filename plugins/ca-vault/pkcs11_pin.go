package cavault

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxPINFileSize bounds what readPIN reads: a PIN is short, and a large
// file is certainly not a PIN file.
const maxPINFileSize = 1024

// readPIN returns the token user PIN held in the file at path: its one
// line, without the line ending. It refuses a file that group or others
// may access. Its errors name the file, never its content.
func readPIN(path string) (string, error) {
	// Stat first: opening a FIFO or device could block or read forever.
	if fi, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("cannot read pin_file: %w", err)
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("pin_file %s is not a regular file; it must be a file holding the PIN", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read pin_file: %w", err)
	}
	defer f.Close()
	// The mode that counts is the opened file's.
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read pin_file: %w", err)
	}
	if err := checkPrivateMode(path, fi); err != nil {
		return "", fmt.Errorf("pin_file %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPINFileSize+1))
	if err != nil {
		return "", fmt.Errorf("cannot read pin_file %s: %w", path, err)
	}
	defer clear(data)
	if len(data) > maxPINFileSize {
		return "", fmt.Errorf("pin_file %s is larger than %d bytes; it must hold only the PIN", path, maxPINFileSize)
	}
	pin := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	switch {
	case pin == "":
		return "", fmt.Errorf("pin_file %s is empty; it must hold the token's user PIN", path)
	case strings.ContainsAny(pin, "\r\n"):
		return "", fmt.Errorf("pin_file %s holds more than one line; it must hold only the PIN", path)
	}
	return pin, nil
}
