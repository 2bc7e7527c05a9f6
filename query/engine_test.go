package query

import (
	"context"
	"testing"

	"github.com/miniodb/miniodb/objstore"
	"github.com/miniodb/miniodb/raftfsm"
)

// TestEngineSettings: the limits and the time zone reach DuckDB, and user
// SQL cannot read them back.
func TestEngineSettings(t *testing.T) {
	ctx := context.Background()
	store, err := objstore.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, Config{Dir: t.TempDir(), Store: store, Catalog: raftfsm.New(nil), MemoryLimit: "300MiB", SpillLimit: "1GiB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for setting, want := range map[string]string{
		"memory_limit": "300.0 MiB", "max_temp_directory_size": "1.0 GiB", "TimeZone": "UTC",
		"enable_external_access": "false", "lock_configuration": "true", "threads": "1",
	} {
		var got string
		if err := e.db.QueryRowContext(ctx, "SELECT current_setting('"+setting+"')::VARCHAR").Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", setting, got, err, want)
		}
	}
	if _, _, err := e.Query(ctx, "SELECT current_setting('memory_limit')"); err == nil {
		t.Error("user SQL read a setting")
	}
}
