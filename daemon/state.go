package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const stateVersion = 1

// savedState is what survives a restart: the domains created through the
// control API (those of the configuration come from it) and the policies
// changed at run time.
type savedState struct {
	Version  int                     `json:"version"`
	Domains  []DomainSpec            `json:"domains"`
	Policies map[string]PolicyConfig `json:"policies,omitempty"`
	// GPUInstances are the MIG instances of every domain (of the
	// configuration too), adopted back after a restart; see gpuadopt.go.
	GPUInstances map[string][]savedGPUInstance `json:"gpu_instances,omitempty"`
}

// stateStore writes the state file atomically: a temporary file in the same
// directory, fsynced, renamed over the old one, and the directory fsynced.
// A failure at any step (a full disk, say) leaves the previous state intact
// and returns an error that says which step failed.
type stateStore struct{ dir string }

func newStateStore(dir string) *stateStore { return &stateStore{dir: dir} }

func (s *stateStore) path() string { return filepath.Join(s.dir, "state.json") }

func (s *stateStore) load() (savedState, error) {
	data, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return savedState{Version: stateVersion}, nil
	}
	if err != nil {
		return savedState{}, fmt.Errorf("reading state: %w", err)
	}
	var st savedState
	if err := json.Unmarshal(data, &st); err != nil {
		return savedState{}, fmt.Errorf("state file %s is corrupt (%v): move it aside to start without the saved domains", s.path(), err)
	}
	if st.Version != stateVersion {
		return savedState{}, fmt.Errorf("state file %s has version %d, this coprocd reads version %d", s.path(), st.Version, stateVersion)
	}
	return st, nil
}

func (s *stateStore) save(st savedState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("saving state: writing %s: %w (the previous state is kept)", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving state: syncing %s: %w (the previous state is kept)", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving state: %w (the previous state is kept)", err)
	}
	if err := os.Rename(tmp.Name(), s.path()); err != nil {
		return fmt.Errorf("saving state: %w (the previous state is kept)", err)
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
