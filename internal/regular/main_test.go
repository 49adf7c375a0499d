package regular

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]error{file: nil, dir: ErrNotRegular} {
		f, err := os.OpenFile(name, os.O_RDONLY|NoBlock, 0)
		if err != nil {
			t.Fatal(err)
		}
		f, err = Check(f)
		if !errors.Is(err, want) || (err == nil) != (f != nil) {
			t.Errorf("Check(%s): got %v, %v; want %v", name, f, err, want)
		}
		if f != nil {
			f.Close()
		}
	}
}
