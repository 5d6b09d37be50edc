package cavault

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Modes of everything the managed backend writes.
const (
	privateDirMode  fs.FileMode = 0o700
	privateFileMode fs.FileMode = 0o600
)

// writePrivateFile replaces path with data, mode 0600, atomically: a
// reader sees the old content or the new, never a torn file.
func writePrivateFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes 0600 files already; Chmod keeps that true whatever
	// the implementation does.
	if err := tmp.Chmod(privateFileMode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// checkPrivate refuses a file or directory that group or others may
// access: its content is only as secret as its mode.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return checkPrivateMode(path, fi)
}

// checkPrivateMode is checkPrivate for the file at path described by fi.
func checkPrivateMode(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		want := privateFileMode
		if fi.IsDir() {
			want = privateDirMode
		}
		return fmt.Errorf("%s has mode %04o, which lets group or others in; refusing to use it (chmod %04o %s)", path, perm, want, path)
	}
	return nil
}
