package file

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DefaultFileName is the active file's name in the audit directory.
const DefaultFileName = "events.log"

// rotatedName returns the name of the i-th newest rotated file; 0 is the
// active file.
func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// open opens (creating when missing) the active file for appending. A
// torn last line, left by a crash or a failed write, is terminated so the
// next event starts on a line of its own.
func (w *writer) open() error {
	path := w.opts.Path
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit file: creating directory %s: %w", dir, err)
	}
	created := true
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		created = false
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	}
	if err != nil {
		return fmt.Errorf("audit file: opening %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("audit file: %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return fmt.Errorf("audit file: %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			_ = f.Close()
			return fmt.Errorf("audit file: restricting %s to its owner: %w", path, err)
		}
	}
	size := st.Size()
	if size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil && !errors.Is(err, io.EOF) {
			_ = f.Close()
			return fmt.Errorf("audit file: reading %s: %w", path, err)
		}
		if last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				_ = f.Close()
				return fmt.Errorf("audit file: terminating torn line in %s: %w", path, err)
			}
			size++
			w.dirty = true
		}
	}
	if created {
		if err := syncDir(dir); err != nil {
			_ = f.Close()
			return err
		}
	}
	w.f, w.size = f, size
	return nil
}

// rotate syncs and closes the active file, shifts the rotated files by
// one (deleting the oldest beyond MaxFiles) and opens a new active file.
func (w *writer) rotate() error {
	if err := w.sync(); err != nil {
		return err
	}
	w.closeFile()
	path := w.opts.Path
	oldest := rotatedName(path, w.opts.MaxFiles)
	if err := os.Remove(oldest); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit file: removing %s: %w", oldest, err)
	}
	for i := w.opts.MaxFiles - 1; i >= 0; i-- {
		from, to := rotatedName(path, i), rotatedName(path, i+1)
		if err := os.Rename(from, to); err != nil && !(i > 0 && errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("audit file: rotating %s: %w", from, err)
		}
	}
	w.stats.rotations.Add(1)
	return w.open()
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit file: opening directory %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit file: syncing directory %s: %w", dir, err)
	}
	return nil
}

// activePath resolves a search path: a directory means its events.log.
func activePath(path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return filepath.Join(path, DefaultFileName)
	}
	return path
}

// files returns the rotated files of path, oldest first, followed by
// path itself; files that do not exist are left out.
func files(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit file: listing %s: %w", dir, err)
	}
	var rotated []int
	active := false
	for _, e := range entries {
		name := e.Name()
		if name == base {
			active = true
			continue
		}
		if n, ok := rotatedIndex(name, base); ok {
			rotated = append(rotated, n)
		}
	}
	slices.Sort(rotated)
	slices.Reverse(rotated)
	out := make([]string, 0, len(rotated)+1)
	for _, n := range rotated {
		out = append(out, rotatedName(path, n))
	}
	if active {
		out = append(out, path)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("audit file: no audit log at %s: %w", path, fs.ErrNotExist)
	}
	return out, nil
}

// rotatedIndex returns N for a file named BASE.N.
func rotatedIndex(name, base string) (int, bool) {
	suffix, ok := strings.CutPrefix(name, base+".")
	if !ok || suffix == "" || suffix[0] == '0' || strings.Trim(suffix, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(suffix)
	return n, err == nil
}
