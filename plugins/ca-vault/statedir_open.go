package cavault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// openStateDir returns the keyring directory DATA_DIR/name, mode 0700.
// On the first start, when it does not exist, create fills a temporary
// directory that is then renamed into place, so the directory either
// does not exist or is complete: a crash never leaves half an
// initialisation.
func openStateDir(dataDir, name string, create func(tmp string) error) (string, error) {
	if dataDir == "" {
		return "", fmt.Errorf("the %s backend needs a data directory to keep its state in", name)
	}
	if err := os.MkdirAll(dataDir, privateDirMode); err != nil {
		return "", fmt.Errorf("creating the data directory: %w", err)
	}
	dir := filepath.Join(dataDir, name)
	_, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := createStateDir(dataDir, name, create); err != nil {
			return "", fmt.Errorf("creating the cluster's authorities in %s: %w", dir, err)
		}
	case err != nil:
		return "", fmt.Errorf("opening %s: %w", dir, err)
	}
	if err := checkPrivate(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// createStateDir builds DATA_DIR/name in a temporary directory and
// renames it into place.
func createStateDir(dataDir, name string, create func(tmp string) error) (err error) {
	prefix := "." + name + "-init-"
	stale, _ := filepath.Glob(filepath.Join(dataDir, prefix+"*"))
	for _, s := range stale {
		_ = os.RemoveAll(s)
	}
	tmp, err := os.MkdirTemp(dataDir, prefix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, privateDirMode); err != nil {
		return err
	}
	if err := create(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dataDir, name)); err != nil {
		return err
	}
	return syncDir(dataDir)
}
