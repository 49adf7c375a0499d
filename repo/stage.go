package repo

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/relpath"
)

// The staging area: StagingDir holds a folder for each run, named
// "run-" and random hex, which holds the run's lock file (a temporary
// file of fetch.CreateTemp, locked while it is open) and the staged
// files at their paths; and the record of the metadata published by the
// last two runs, generationsFile.

// generationsFile is the record, in StagingDir, of the metadata paths
// that the last two runs published.
const generationsFile = "generations.json"

type generations struct {
	Last     []string `json:"last"`     // published by the last run
	Previous []string `json:"previous"` // by the run before it
}

// openStage makes the staging folder of the run, and removes those of
// runs that no process runs any more.
func (s *Sync) openStage() error {
	if err := s.Root.MkdirAll(StagingDir, 0o777); err != nil {
		return err
	}
	s.removeDeadRuns()
	for {
		b := make([]byte, 8)
		rand.Read(b)
		run := path.Join(StagingDir, "run-"+hex.EncodeToString(b))
		err := s.Root.Mkdir(filepath.FromSlash(run), 0o777)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		s.run = run
		break
	}
	lock, _, err := fetch.CreateTemp(s.Root, filepath.Join(filepath.FromSlash(s.run), "lock"))
	if err != nil {
		return err
	}
	s.lock = lock
	s.stage, err = s.Root.OpenRoot(filepath.FromSlash(s.run))
	return err
}

// removeDeadRuns removes the staging folders of runs whose process ended
// without removing them: those whose lock file nobody holds.
func (s *Sync) removeDeadRuns() {
	entries, err := fs.ReadDir(s.Root.FS(), StagingDir)
	if err != nil {
		return
	}
	for _, d := range entries {
		if !d.IsDir() || !strings.HasPrefix(d.Name(), "run-") {
			continue
		}
		run := filepath.Join(StagingDir, d.Name())
		r, err := s.Root.OpenRoot(run)
		if err != nil {
			continue
		}
		// Removes the lock file of a dead run, and leaves a live one's.
		fetch.RemoveLeftoversOf(r, []string{"lock"})
		names, _ := fs.Glob(r.FS(), ".lock.*")
		r.Close()
		if len(names) == 0 {
			s.Root.RemoveAll(run)
		}
	}
}

// rotate records published as the metadata of this run, and removes the
// files of the run before the last that neither the last run nor this one
// published.
func (s *Sync) rotate(published []string) error {
	name := filepath.Join(StagingDir, generationsFile)
	var old generations
	if b, err := s.Root.ReadFile(name); err == nil {
		json.Unmarshal(b, &old) // a damaged record removes nothing
	}
	var errs []error
	for _, p := range old.Previous {
		if slices.Contains(old.Last, p) || slices.Contains(published, p) || relpath.Check(p) != nil {
			continue
		}
		if err := s.Root.Remove(filepath.FromSlash(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	b, _ := json.Marshal(generations{Last: published, Previous: old.Last})
	f, tmp, err := fetch.CreateTemp(s.Root, name)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.Root.Rename(tmp, name)
	}
	if err != nil {
		s.Root.Remove(tmp)
	}
	return errors.Join(append(errs, err)...)
}
